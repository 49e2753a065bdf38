"""Colours that tell a figure's series apart, shared by the scoring and analysis figures."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import matplotlib

ROUND = 10  # colours per round: tab10's, which the light round shades in the same order


def distinct_colours(count: int) -> list[tuple]:
  """`count` colours, all different up to 20: tab10's ten, then tab20's lighter shade of each.
  Matplotlib's default cycle repeats after ten, and a leaderboard of the stored baselines plus
  one run already has 14 series."""
  tab20 = matplotlib.colormaps['tab20'].colors
  palette = tab20[0::2] + tab20[1::2]
  return [palette[k % len(palette)] for k in range(count)]


def colour_of(name: str) -> tuple:
  """The colour of `name` in every figure and every run: a stable hash (not Python's salted
  `hash`) into the 20 colours, so a submission keeps its colour whoever else is plotted."""
  palette = distinct_colours(2 * ROUND)
  return palette[zlib.crc32(name.encode('utf-8')) % len(palette)]


def colours_by_name(names: Sequence[str]) -> dict[str, tuple[tuple, int]]:
  """Per name, (its colour, how many names sorted before it share that colour): two names
  hashed to one colour are told apart by the second number (a line style or marker), and
  neither depends on the order `names` come in."""
  seen: dict[tuple, int] = {}
  styles = {}
  for name in sorted(set(names)):
    colour = colour_of(name)
    styles[name] = (colour, seen.get(colour, 0))
    seen[colour] = styles[name][1] + 1
  return styles


def unique_colours_by_name(names: Sequence[str]) -> dict[str, tuple]:
  """Per name a colour of its own: `colour_of(name)`, or, where an earlier name (sorted) has
  taken it, the next free one of the 20. For figures that tell series apart by colour alone;
  a name keeps its colour across runs unless it collides, and never depends on order."""
  palette = distinct_colours(2 * ROUND)
  taken: set[tuple] = set()
  colours = {}
  for name in sorted(set(names)):
    start = palette.index(colour_of(name))
    free = [palette[(start + k) % len(palette)] for k in range(len(palette))
            if palette[(start + k) % len(palette)] not in taken]
    colours[name] = free[0] if free else colour_of(name)
    taken.add(colours[name])
  return colours
