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
