"""Write a scoring run to disk: CSV tables, plots, a Markdown table and an HTML leaderboard.

The HTML page is self-contained (plots embedded as base64 PNG, no network resources).
"""

from __future__ import annotations

import base64
import html
import os
import re
import textwrap
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from algoperf.scoring import plots
from algoperf.scoring.pipeline import ScoringResult

UNSCORED_TITLE = 'Time to target on the variants (robustness checks, not scored)'
ENSEMBLE_TITLE = ('Ensembles: outside AlgoPerf\'s rules, which fix the model; never in the '
                  'score above')
ENSEMBLE_NOTE = ('Submissions whose evals averaged several models (docs/ensembles.md): times to '
                 'target (s; inf = missed), the most members an eval used and the memory '
                 'their params and states took beyond one model\'s (MiB).')
TERMINAL_WIDTH = 100
YOUR_RUN = '> '  # marks the user's own runs in terminal tables
YOUR_RUN_CLASS = 'mine'  # the CSS class of their rows in the HTML tables


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


def _wrapped(lines: Sequence[str]) -> str:
  return ''.join(textwrap.fill(line, TERMINAL_WIDTH, subsequent_indent='  ') + '\n'
                 for line in lines)


def _marked(frame: pd.DataFrame, highlight: Collection[str]) -> pd.DataFrame:
  """`frame` (submissions as rows) with the user's runs marked, the others indented alike."""
  pad = ' ' * len(YOUR_RUN)
  return frame.rename(index=lambda s: (YOUR_RUN if s in highlight else pad) + str(s))


def _fitted(frame: pd.DataFrame, float_format) -> str:
  """`frame` as text at most TERMINAL_WIDTH wide: as it is, else its columns wrapped into
  blocks (a 14-submission leaderboard is wider than a terminal)."""
  text = frame.to_string(float_format=float_format)
  if max(map(len, text.splitlines()), default=0) <= TERMINAL_WIDTH:
    return text
  return frame.to_string(float_format=float_format, line_width=TERMINAL_WIDTH)


def terminal_table(result: ScoringResult, highlight: Collection[str] = ()) -> str:
  """Scores and times to target, readable in a terminal at most TERMINAL_WIDTH wide; the
  `highlight`ed submissions (the user's runs) are marked with YOUR_RUN."""
  highlight = set(highlight)
  times = result.times.reindex(columns=result.scored_workloads)
  scores = result.scores.set_index('submission')
  seconds = lambda v: f'{v:.1f}'  # noqa: E731
  legend = [f'{YOUR_RUN.strip()} = your run'] if highlight & set(scores.index) else []
  with pd.option_context('display.max_columns', 50):
    text = (_wrapped(rules_text(result)) + '\nLeaderboard\n'
            + _fitted(_marked(scores, highlight), lambda v: f'{v:.4f}') + '\n'
            + _wrapped([f'* {note}' for note in excluded_notes(result)] + legend)
            + '\nTime to target (s; median over studies; inf = missed, NaN = no runs)\n'
            + _fitted(_marked(times, highlight), seconds) + '\n')
    if not result.unscored_times.empty:
      text += (f'\n{UNSCORED_TITLE} (s)\n'
               + _fitted(_marked(result.unscored_times, highlight), seconds) + '\n')
    if not result.ensembles.empty:
      text += (f'\n{ENSEMBLE_TITLE}\n' + _wrapped([ENSEMBLE_NOTE])
               + _fitted(_marked(result.ensembles, highlight), lambda v: f'{v:.4g}') + '\n')
  return text


def _image(fig) -> str:
  data = base64.b64encode(plots.png_bytes(fig)).decode('ascii')
  return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, index: bool = True, highlight: Collection[str] = ()) -> str:
  """An HTML table in a box that scrolls sideways (a wide table stays inside the page);
  rows whose first cell is a `highlight`ed submission get the YOUR_RUN_CLASS."""
  table = frame.to_html(index=index, float_format=lambda v: f'{v:.4g}', na_rep='no runs',
                        border=0, classes='table')

  def mark(row: re.Match) -> str:
    mine = html.unescape(row.group(2)) in highlight
    return (f'<tr class="{YOUR_RUN_CLASS}">' if mine else '<tr>') + row.group(1)

  table = re.sub(r'<tr>(\s*<t[hd]>([^<]*)</t[hd]>)', mark, table)
  return f'<div class="scroll">{table}</div>'


def _notice_boxes(notices: Sequence[tuple[str, Sequence[str]]]) -> str:
  """Boxes at the top of the page for what must be read before the tables."""
  return ''.join(
      '<div class="notice" style="border:3px solid #c60;background:#fff4e5;padding:0.5em 1em;'
      f'margin:1em 0"><b>{html.escape(title)}</b><pre style="white-space:pre-wrap">'
      f'{html.escape(chr(10).join(lines))}</pre></div>' for title, lines in notices)


def html_page(result: ScoringResult, speedup_table: pd.DataFrame | None = None,
              links: Sequence[tuple[str, str]] = (),
              notices: Sequence[tuple[str, Sequence[str]]] = (),
              highlight: Collection[str] = ()) -> str:
  """The leaderboard page: scores, profile plot, time chart, misses, rules and issues.

  `links` are (text, relative href) pairs listed under "More", e.g. analysis pages;
  `notices` are (title, lines) shown in a box at the top (e.g. the machine-speed check);
  `highlight` names the user's runs, marked in the tables and drawn on top in the plots.
  """
  esc = html.escape
  highlight = set(highlight)
  times = result.times.reindex(columns=result.scored_workloads)
  missed = missed_targets(result)
  misses = ''.join(f'<li><b>{esc(s)}</b>: {esc("; ".join(r)) or "none"}</li>'
                   for s, r in missed.items())
  issues = ''.join(f'<li>{esc(m)}</li>' for m in result.issues) or '<li>none</li>'
  parts = [
      '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Leaderboard</title><style>',
      'body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}'
      '.table{border-collapse:collapse}.table td,.table th{padding:3px 8px;'
      'border-bottom:1px solid #ccc;text-align:right}img{max-width:100%}'
      f'.scroll{{overflow-x:auto;max-width:100%}}.{YOUR_RUN_CLASS}{{font-weight:bold;'
      'background:#fff3bf}',
      '</style></head><body><h1>Leaderboard</h1>', _notice_boxes(notices), '<ul>',
      ''.join(f'<li>{esc(line)}</li>' for line in rules_text(result)), '</ul>',
      '<h2>Benchmark scores</h2>', _table(result.scores, index=False, highlight=highlight),
      (f'<p class="{YOUR_RUN_CLASS}">Highlighted: your run</p>'
       if highlight & set(result.scores['submission']) else ''),
      ''.join(f'<p>* {esc(note)}</p>' for note in excluded_notes(result)),
      '<h2>Performance profiles</h2>',
      _image(plots.profile_figure(result.profile, highlight=highlight)),
      '<h2>Time to target per workload</h2>',
      _image(plots.times_figure(times, highlight=highlight)),
      _table(times, highlight=highlight),
      '<h2>Missed targets</h2><ul>', misses, '</ul>',
  ]
  if not result.unscored_times.empty:
    parts += [f'<h2>{UNSCORED_TITLE}</h2>',
              _table(result.unscored_times, highlight=highlight)]
  if not result.ensembles.empty:
    parts += [f'<h2>{esc(ENSEMBLE_TITLE)}</h2><p>{esc(ENSEMBLE_NOTE)}</p>',
              _table(result.ensembles, highlight=highlight)]
  if speedup_table is not None:
    parts += ['<h2>Speedups</h2>', _table(speedup_table, index=False, highlight=highlight)]
  if links:
    parts += ['<h2>More</h2><ul>', ''.join(
        f'<li><a href="{esc(href, quote=True)}">{esc(text)}</a></li>' for text, href in links),
              '</ul>']
  parts += ['<h2>Problems found in the logs</h2><ul>', issues, '</ul></body></html>']
  return '\n'.join(parts)


def write_report(result: ScoringResult, output_dir: str,
                 speedup_table: pd.DataFrame | None = None,
                 links: Sequence[tuple[str, str]] = (),
                 notices: Sequence[tuple[str, Sequence[str]]] = (),
                 highlight: Collection[str] = ()) -> list[str]:
  """Write every artifact of `result` under `output_dir`; return the paths written.
  `highlight` names the user's runs (see html_page)."""
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
  if not result.ensembles.empty:
    csv(result.ensembles, 'ensembles.csv')
  profile_fig = plots.profile_figure(result.profile, highlight=highlight)
  for ext in ('png', 'pdf'):
    profile_fig.savefig(path(f'performance_profile.{ext}'))
    written.append(path(f'performance_profile.{ext}'))
  plots.times_figure(result.times.reindex(columns=result.scored_workloads),
                     highlight=highlight).savefig(path('time_to_target.png'))
  written.append(path('time_to_target.png'))
  texts = {
      'leaderboard.md': markdown_table(result.scores) + ''.join(
          f'\n\\* {note}\n' for note in excluded_notes(result)) + (
          '' if result.ensembles.empty else
          f'\n## {ENSEMBLE_TITLE}\n\n{ENSEMBLE_NOTE}\n\n'
          + markdown_table(result.ensembles.reset_index())),
      'leaderboard.html': html_page(result, speedup_table, links, notices, highlight),
      'issues.txt': ''.join(f'{m}\n' for m in result.issues),
  }
  for name, text in texts.items():
    with open(path(name), 'w') as f:
      f.write(text)
    written.append(path(name))
  return written
