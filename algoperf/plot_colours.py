"""Colours that tell a figure's series apart, shared by the scoring and analysis figures."""

from __future__ import annotations

import matplotlib

ROUND = 10  # colours per round: tab10's, which the light round shades in the same order


def distinct_colours(count: int) -> list[tuple]:
  """`count` colours, all different up to 20: tab10's ten, then tab20's lighter shade of each.
  Matplotlib's default cycle repeats after ten, and a leaderboard of the stored baselines plus
  one run already has 14 series."""
  tab20 = matplotlib.colormaps['tab20'].colors
  palette = tab20[0::2] + tab20[1::2]
  return [palette[k % len(palette)] for k in range(count)]
