"""Write a scoring run to disk: CSV tables, plots, a Markdown table and an HTML leaderboard.

The HTML page is self-contained (plots embedded as base64 PNG, no network resources).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from algoperf.scoring import plots
from algoperf.scoring.pipeline import ScoringResult

UNSCORED_TITLE = 'Time to target on the variants (robustness checks, not scored)'


def _fmt(value) -> str:
  if isinstance(value, (float, np.floating)):
    if np.isnan(value):
      return ''
    return 'inf' if np.isinf(value) else f'{value:.4g}'
  return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
  """A GitHub-flavoured Markdown table of `frame` (index dropped)."""
  header = [str(c) for c in frame.columns]
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(_fmt(v) for v in row) + ' |'
            for row in frame.itertuples(index=False)]
  return '\n'.join(lines) + '\n'


def missed_targets(result: ScoringResult) -> dict[str, list[str]]:
  """Per submission, the scored workloads it gets no credit on, and why."""
  workloads = result.scored_workloads
  raw = result.times.reindex(columns=workloads)
  missed = {}
  for submission in result.times.index:
    reasons = []
    for workload in workloads:
      time = raw.at[submission, workload]
      if np.isnan(time):
        reasons.append(f'{workload}: no runs')
      elif np.isinf(time):
        reasons.append(f'{workload}: target not reached (median over studies)')
      elif workload in result.gated_times.columns and np.isinf(
          result.gated_times.at[submission, workload]):
        reasons.append(f'{workload}: reached, but cut off (> tau_max x best, or its '
                       'held-out variant/base failed)')
    missed[submission] = reasons
  return missed


def excluded_notes(result: ScoringResult) -> list[str]:
  """Footnotes marking the submissions scored without some trials, so no score built on fewer
  trials than it seems goes unnoticed."""
  return [f'{submission}: {n} trial(s) excluded: corrupt logs (see the problems found)'
          for submission, n in result.excluded_counts.items()]


def rules_text(result: ScoringResult) -> list[str]:
  o = result.options
  return [
      f'targets: {result.targets.version} ({result.targets.source})',
      f'ruleset: {o.ruleset}; tau_max: {o.tau_max:g}; {o.num_points} tau points',
      f'trial per study: {o.trial_selection}; budget enforced: {o.enforce_budget}',
      f'held-out workloads: {", ".join(result.held_out) or "none"}'
      + ('; unlisted variants gate their base' if o.gate_unlisted_variants else ''),
      f'ratios relative to: {o.reference_submission or "the best submission per workload"}',
  ]


def terminal_table(result: ScoringResult) -> str:
  """Scores and times to target, readable in a terminal."""
  times = result.times.reindex(columns=result.scored_workloads)
  scores = result.scores.set_index('submission')
  seconds = lambda v: f'{v:.1f}'  # noqa: E731
  with pd.option_context('display.width', 200, 'display.max_columns', 50):
    text = ('\n'.join(rules_text(result)) + '\n\nLeaderboard\n'
            + scores.to_string(float_format=lambda v: f'{v:.4f}') + '\n'
            + ''.join(f'* {note}\n' for note in excluded_notes(result))
            + '\nTime to target (s; median over studies; inf = missed, NaN = no runs)\n'
            + times.T.to_string(float_format=seconds) + '\n')
    if not result.unscored_times.empty:
      text += (f'\n{UNSCORED_TITLE} (s)\n'
               + result.unscored_times.T.to_string(float_format=seconds) + '\n')
  return text


def _image(fig) -> str:
  data = base64.b64encode(plots.png_bytes(fig)).decode('ascii')
  return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, index: bool = True) -> str:
  return frame.to_html(index=index, float_format=lambda v: f'{v:.4g}', na_rep='no runs',
                       border=0, classes='table')


def html_page(result: ScoringResult, speedup_table: pd.DataFrame | None = None,
              links: Sequence[tuple[str, str]] = ()) -> str:
  """The leaderboard page: scores, profile plot, time chart, misses, rules and issues.

  `links` are (text, relative href) pairs listed under "More", e.g. analysis pages.
  """
  esc = html.escape
  times = result.times.reindex(columns=result.scored_workloads)
  missed = missed_targets(result)
  misses = ''.join(f'<li><b>{esc(s)}</b>: {esc("; ".join(r)) or "none"}</li>'
                   for s, r in missed.items())
  issues = ''.join(f'<li>{esc(m)}</li>' for m in result.issues) or '<li>none</li>'
  parts = [
      '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Leaderboard</title><style>',
      'body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}'
      '.table{border-collapse:collapse}.table td,.table th{padding:3px 8px;'
      'border-bottom:1px solid #ccc;text-align:right}img{max-width:100%}',
      '</style></head><body><h1>Leaderboard</h1><ul>',
      ''.join(f'<li>{esc(line)}</li>' for line in rules_text(result)), '</ul>',
      '<h2>Benchmark scores</h2>', _table(result.scores, index=False),
      ''.join(f'<p>* {esc(note)}</p>' for note in excluded_notes(result)),
      '<h2>Performance profiles</h2>', _image(plots.profile_figure(result.profile)),
      '<h2>Time to target per workload</h2>',
      _image(plots.times_figure(times)), _table(times.T),
      '<h2>Missed targets</h2><ul>', misses, '</ul>',
  ]
  if not result.unscored_times.empty:
    parts += [f'<h2>{UNSCORED_TITLE}</h2>', _table(result.unscored_times.T)]
  if speedup_table is not None:
    parts += ['<h2>Speedups</h2>', _table(speedup_table, index=False)]
  if links:
    parts += ['<h2>More</h2><ul>', ''.join(
        f'<li><a href="{esc(href, quote=True)}">{esc(text)}</a></li>' for text, href in links),
              '</ul>']
  parts += ['<h2>Problems found in the logs</h2><ul>', issues, '</ul></body></html>']
  return '\n'.join(parts)


def write_report(result: ScoringResult, output_dir: str,
                 speedup_table: pd.DataFrame | None = None,
                 links: Sequence[tuple[str, str]] = ()) -> list[str]:
  """Write every artifact of `result` under `output_dir`; return the paths written."""
  os.makedirs(output_dir, exist_ok=True)
  written = []

  def path(name: str) -> str:
    return os.path.join(output_dir, name)

  def csv(frame: pd.DataFrame, name: str, index: bool = True) -> None:
    frame.to_csv(path(name), index=index)
    written.append(path(name))

  csv(result.times, 'time_to_targets.csv')
  csv(result.gated_times, 'time_to_targets_scored.csv')
  csv(result.ratios, 'performance_ratios.csv')
  csv(result.profile, 'performance_profile.csv')
  csv(result.scores, 'scores.csv', index=False)
  csv(result.studies, 'studies.csv', index=False)
  csv(result.excluded, 'excluded_trials.csv', index=False)
  if not result.trials.empty:
    for submission, trials in result.trials.groupby('submission'):
      csv(trials, f'{submission}_summary.csv', index=False)
  if speedup_table is not None:
    csv(speedup_table, 'speedups.csv', index=False)
  profile_fig = plots.profile_figure(result.profile)
  for ext in ('png', 'pdf'):
    profile_fig.savefig(path(f'performance_profile.{ext}'))
    written.append(path(f'performance_profile.{ext}'))
  plots.times_figure(result.times.reindex(columns=result.scored_workloads)).savefig(path('time_to_target.png'))
  written.append(path('time_to_target.png'))
  texts = {
      'leaderboard.md': markdown_table(result.scores) + ''.join(
          f'\n\\* {note}\n' for note in excluded_notes(result)),
      'leaderboard.html': html_page(result, speedup_table, links),
      'issues.txt': ''.join(f'{m}\n' for m in result.issues),
  }
  for name, text in texts.items():
    with open(path(name), 'w') as f:
      f.write(text)
    written.append(path(name))
  return written
