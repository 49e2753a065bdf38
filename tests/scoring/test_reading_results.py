"""Reading the results: the user's run stands out, colours follow names, nothing is hidden
(zero curves, piled-up misses, tables wider than the terminal or the page), and the live
progress line says when a trial waits for its test target."""

import io
import re

import numpy as np
import pandas as pd
from scoring_fixtures import make_targets

from algoperf import plot_colours, progress, scoring, suite_runner
from algoperf.scoring import plots, report

WORKLOADS = ['mnist1d', 'fashion_mnist_mlp', 'char_lm_small', 'cifar10_resnet_tiny',
             'ogbg_molpcba_tiny', 'wmt_transformer_tiny', 'librispeech_tiny', 'criteo_tiny']
MINE = 'my_submission'
BASELINES = [f'algorithm_{k}{suite_runner.BASELINE_SUFFIX}' for k in range(13)]


def _result():
  """14 submissions on 8 workloads; a few miss every target (score 0)."""
  rng = np.random.default_rng(0)
  times = pd.DataFrame(rng.uniform(50, 500, (14, len(WORKLOADS))), index=[MINE, *BASELINES],
                       columns=WORKLOADS)
  times.iloc[-3:] = np.inf  # three submissions never reach a target
  times.iloc[5, 0] = np.inf
  targets = make_targets({w: {} for w in WORKLOADS})
  return scoring.score_times(times, targets, scoring.ScoringOptions())


def test_terminal_table_fits_100_columns_and_marks_the_users_run():
  text = report.terminal_table(_result(), highlight=[MINE])
  assert max(len(line) for line in text.splitlines()) <= report.TERMINAL_WIDTH
  assert f'{report.YOUR_RUN}{MINE}' in text and 'your run' in text
  assert f'{report.YOUR_RUN}{BASELINES[0]}' not in text
  for workload in WORKLOADS:  # wrapped, not cut
    assert workload in text
  assert 'your run' not in report.terminal_table(_result())


def test_html_highlights_the_users_rows_and_scrolls_wide_tables():
  page = report.html_page(_result(), highlight=[MINE])
  assert 'overflow-x:auto' in page
  assert page.count('<div class="scroll"><table') >= 2
  def row_tags(name):
    return re.findall(rf'<tr([^>]*)>\s*<t[hd]>{re.escape(name)}</t[hd]>', page)

  assert len(row_tags(MINE)) == 2  # the scores and the times tables
  assert set(row_tags(MINE)) == {f' class="{report.YOUR_RUN_CLASS}"'}
  assert set(row_tags(BASELINES[0])) == {''}


def test_suite_highlights_every_run_that_is_not_a_baseline():
  assert suite_runner.own_runs([MINE, *BASELINES]) == [MINE]


def test_colours_follow_the_name_not_the_position():
  names = [MINE, *BASELINES]
  forward = plot_colours.colours_by_name(names)
  assert plot_colours.colours_by_name(list(reversed(names))) == forward
  assert plot_colours.colours_by_name([MINE])[MINE][0] == forward[MINE][0]
  profile = _result().profile
  lines = {line.get_label(): line.get_color()
           for line in plots.profile_figure(profile).axes[0].get_lines()}
  shuffled = plots.profile_figure(profile.iloc[::-1]).axes[0].get_lines()
  assert {line.get_label(): line.get_color() for line in shuffled} == lines
  assert lines[MINE] == plot_colours.colour_of(MINE)


def test_users_curve_is_on_top_and_thicker():
  ax = plots.profile_figure(_result().profile, highlight=[MINE]).axes[0]
  by_name = {line.get_label(): line for line in ax.get_lines()}
  others = [line for name, line in by_name.items() if name != MINE]
  assert by_name[MINE].get_zorder() > max(line.get_zorder() for line in others)
  assert by_name[MINE].get_linewidth() > max(line.get_linewidth() for line in others)


def test_zero_score_curves_are_visible():
  result = _result()
  ax = plots.profile_figure(result.profile).axes[0]
  zero = [line for line in ax.get_lines() if not np.any(line.get_ydata() > 0)]
  assert len(zero) == 3
  assert ax.get_ylim()[0] < 0  # y = 0 is drawn above the x axis, not on it
  assert all(line.get_marker() not in (None, 'None', '') for line in zero)
  assert len({str(line.get_markevery()) for line in zero}) == 3  # staggered, not stacked


def test_missed_target_markers_do_not_pile_up():
  times = _result().times[WORKLOADS]
  ax = plots.times_figure(times).axes[0]
  crosses = [line for line in ax.get_lines() if line.get_marker() == 'x']
  first_workload = [x for line in crosses
                    for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
                    if abs(y) < 0.5]
  assert len(first_workload) == 4 and len(set(first_workload)) == 4
  labels = [t.get_text() for t in ax.texts]
  assert '4 missed' in labels and '3 missed' in labels
  assert max(first_workload) < ax.get_xlim()[1]


def _line(**evaluated) -> str:
  stream = io.StringIO()
  display = progress.TrialProgress('mnist1d', 60, 'loss', 0.02, enabled=True, stream=stream,
                                   test_target=0.021)
  display.evaluated(0.019, **evaluated)
  display.step(10, 1.0)
  return stream.getvalue()


def test_progress_line_says_when_it_waits_for_the_test_target():
  waiting = _line(validation_reached=True, test_reached=False, test_value=0.025)
  assert 'validation target reached (0.019); waiting for the test target' in waiting
  assert 'test/loss 0.025, target 0.021' in waiting
  assert 'waiting' not in _line()
  assert 'validation/loss 0.019 (target 0.02)' in _line()
  assert 'waiting' not in _line(validation_reached=True, test_reached=True)


def test_score_submissions_highlight_flag(tmp_path):
  from test_scoring_end_to_end import _algoperf_tree, _run_cli

  _algoperf_tree(tmp_path / 'logs')
  done = _run_cli('--submission_directory', str(tmp_path / 'logs'), '--workload_targets',
                  'algoperf_v06', '--output_dir', str(tmp_path / 'out'),
                  '--highlight', 'beta,nobody')
  assert done.returncode == 0, done.stderr
  assert f'{report.YOUR_RUN}beta' in done.stdout and 'nobody' in done.stderr
  page = (tmp_path / 'out' / 'leaderboard.html').read_text()
  assert f'<tr class="{report.YOUR_RUN_CLASS}">\n      <td>beta</td>' in page
