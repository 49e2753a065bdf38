"""The figures must tell every submission apart, however many a leaderboard holds."""

import matplotlib
import numpy as np
import pandas as pd

from algoperf.plot_colours import distinct_colours
from algoperf.scoring import plots


def _names(count):
  return [f'algorithm_{k} [baseline]' for k in range(count)]


def test_profile_curves_have_distinct_styles_past_ten_submissions():
  taus = np.linspace(1.0, 4.0, 7)
  profile = pd.DataFrame(np.linspace(0, 1, 14)[:, None] * np.ones_like(taus),
                         index=_names(14), columns=taus)
  ax = plots.profile_figure(profile).axes[0]
  styles = [(line.get_color(), line.get_linestyle()) for line in ax.get_lines()]
  assert len(styles) == 14
  assert len(set(styles)) == 14
  assert [t.get_text() for t in ax.get_legend().get_texts()] == _names(14)
  np.testing.assert_allclose(ax.get_lines()[3].get_ydata(), profile.iloc[3].to_numpy())


def test_time_dots_have_distinct_styles_and_misses_share_their_colour():
  times = pd.DataFrame([[10.0 + k, np.inf] for k in range(13)],
                       index=_names(13), columns=['mnist1d', 'char_lm'])
  ax = plots.times_figure(times).axes[0]
  lines = ax.get_lines()[:-1]  # the last is the dotted 'missed' line
  # Per submission: the dots it reached, then the crosses it missed.
  dots, crosses = lines[0::2], lines[1::2]
  assert len({(d.get_color(), d.get_marker()) for d in dots}) == 13
  assert all(d.get_color() == c.get_color() and c.get_marker() == 'x'
             for d, c in zip(dots, crosses, strict=True))
  assert [t.get_text() for t in ax.get_legend().get_texts()] == _names(13)


def test_distinct_colours_differ_up_to_twenty_and_start_with_tab10():
  colours = distinct_colours(20)
  assert len(set(colours)) == 20
  assert colours[:10] == list(matplotlib.colormaps['tab10'].colors)
