"""Write an analysis to disk: PNGs, CSV tables, `index.md` and `index.html`, a manifest.

The HTML page is self-contained (inline style, no network resources) except for the PNG
and CSV files next to it, which it links by relative path; so the whole output folder can
be moved or served as is, and another page (e.g. the leaderboard) can link into it with the
relative paths `write_analysis` returns and `analysis_outputs` reads back.
"""

from __future__ import annotations

import html
import json
import os

import pandas as pd

from algoperf.analysis import figures, summary
from algoperf.analysis.pipeline import AnalysisOptions, AnalysisResult, analyze_directory
from algoperf.scoring.report import markdown_table

MANIFEST = 'manifest.json'
_STYLE = ('body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}'
          '.table{border-collapse:collapse}.table td,.table th{padding:3px 8px;'
          'border-bottom:1px solid #ccc;text-align:right}img{max-width:100%}')


def curves_png(workload: str) -> str:
  return f'curves_{workload}.png'


def curves_csv(workload: str) -> str:
  return f'curves_{workload}.csv'


def sensitivity_png(workload: str) -> str:
  return f'sensitivity_{workload}.png'


def sensitivity_points(result: AnalysisResult, workload: str) -> pd.DataFrame:
  """One row per trial of `workload` with `hp/<name>` columns, for the sensitivity plot."""
  rows = result.outcomes[result.outcomes['workload'] == workload]
  hparams = pd.DataFrame.from_records([h or {} for h in rows['hparams']], index=rows.index)
  return rows.join(hparams.add_prefix('hp/'))


def target_text(result: AnalysisResult, workload: str) -> str:
  """The workload's target in words, and where it came from."""
  target = result.targets[workload]
  benchmark = result.options.targets
  source = (f'targets file {benchmark.version}' if benchmark is not None
            and workload in benchmark.workloads else 'meta_data of its trials')
  value = (f'{target.validation_target:.4g}' if pd.notna(target.validation_target)
           else 'unknown')
  return (f'validation {target.metric} target {value} ({figures.direction(target)}; '
          f'from {source}); budget {target.max_runtime_sec:.4g} s')


def trials_table(result: AnalysisResult) -> pd.DataFrame:
  """Per trial, for CSV: outcomes with one `hp/<name>` column per hyperparameter."""
  outcomes = result.outcomes
  hparams = pd.DataFrame.from_records([h or {} for h in outcomes['hparams']],
                                      index=outcomes.index)
  return outcomes.drop(columns='hparams').join(hparams.add_prefix('hp/'))


def _markdown(result: AnalysisResult, files: dict[str, list[str]]) -> str:
  lines = ['# Training analysis', '',
           f'Logs: `{result.directory}`. Learning curves are the median (line) and '
           'inter-quartile range (band) over trials, each trial linearly interpolated onto a '
           'common grid (docs/analysis.md).', '',
           '## Summary', '', markdown_table(summary.display_table(result.summary)),
           '[summary.csv](summary.csv) · [trials.csv](trials.csv)', '']
  for workload in result.workloads:
    lines += [f'## {workload}', '', target_text(result, workload), '']
    for name in files[workload]:
      if name.endswith('.png'):
        lines += [f'![{name[:-4]}]({name})', '']
      else:
        lines += [f'[{name}]({name})', '']
  if result.issues:
    lines += ['## Problems found in the logs', ''] + [f'- {m}' for m in result.issues] + ['']
  return '\n'.join(lines)


def _html(result: AnalysisResult, files: dict[str, list[str]]) -> str:
  esc = html.escape
  table = summary.display_table(result.summary).to_html(
      index=False, float_format=lambda v: f'{v:.4g}', na_rep='', border=0, classes='table')
  parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>Training analysis</title>',
           f'<style>{_STYLE}</style></head><body><h1>Training analysis</h1>',
           f'<p>Logs: <code>{esc(result.directory)}</code>. Learning curves are the median '
           '(line) and inter-quartile range (band) over trials, each trial linearly '
           'interpolated onto a common grid.</p>',
           '<h2>Summary</h2>', table,
           '<p><a href="summary.csv">summary.csv</a> · <a href="trials.csv">trials.csv</a></p>']
  for workload in result.workloads:
    parts += [f'<h2 id="{esc(workload)}">{esc(workload)}</h2>',
              f'<p>{esc(target_text(result, workload))}</p>']
    for name in files[workload]:
      ref = esc(name, quote=True)
      parts.append(f'<p><a href="{ref}"><img alt="{ref}" src="{ref}"></a></p>'
                   if name.endswith('.png') else f'<p><a href="{ref}">{esc(name)}</a></p>')
  if result.issues:
    parts += ['<h2>Problems found in the logs</h2><ul>',
              ''.join(f'<li>{esc(m)}</li>' for m in result.issues), '</ul>']
  parts.append('</body></html>')
  return '\n'.join(parts)


def write_analysis(result: AnalysisResult, output_dir: str) -> list[str]:
  """Write every output of `result` under `output_dir`; return their paths relative to it
  (also recorded in `manifest.json`)."""
  os.makedirs(output_dir, exist_ok=True)
  written: list[str] = []

  def path(name: str) -> str:
    written.append(name)
    return os.path.join(output_dir, name)

  files: dict[str, list[str]] = {}
  for workload in result.workloads:
    target = result.targets[workload]
    files[workload] = [curves_png(workload), curves_csv(workload)]
    figures.curves_figure(workload, target, result.curves[workload]).savefig(
        path(curves_png(workload)), dpi=110)
    result.curves[workload].to_csv(path(curves_csv(workload)), index=False)
    fig = figures.sensitivity_figure(workload, target, sensitivity_points(result, workload),
                                     result.options.sensitivity_value)
    if fig is not None:
      fig.savefig(path(sensitivity_png(workload)), dpi=110)
      files[workload].append(sensitivity_png(workload))
  summary.csv_table(result.summary).to_csv(path('summary.csv'), index=False)
  trials_table(result).to_csv(path('trials.csv'), index=False)
  texts = {'summary.md': markdown_table(summary.display_table(result.summary)),
           'index.md': _markdown(result, files),
           'index.html': _html(result, files),
           'issues.txt': ''.join(f'{m}\n' for m in result.issues)}
  for name, text in texts.items():
    with open(path(name), 'w') as f:
      f.write(text)
  with open(os.path.join(output_dir, MANIFEST), 'w') as f:
    json.dump({'directory': result.directory, 'files': written}, f, indent=2)
  return written


def analysis_outputs(output_dir: str) -> list[str]:
  """The files a previous `write_analysis` wrote to `output_dir`, relative to it."""
  with open(os.path.join(output_dir, MANIFEST)) as f:
    return list(json.load(f)['files'])


def analyze(directory: str, output_dir: str, options: AnalysisOptions | None = None
            ) -> list[str]:
  """Analyse the experiment tree `directory` and write the outputs; return their paths
  relative to `output_dir`. The one call another module needs."""
  return write_analysis(analyze_directory(directory, options), output_dir)


def terminal_table(result: AnalysisResult) -> str:
  """The summary table, readable in a terminal."""
  with pd.option_context('display.width', 200, 'display.max_columns', 50,
                         'display.max_colwidth', 80):
    table = summary.display_table(result.summary)
    return ('Summary (time to target in s of submission time; median counts a miss as inf)\n'
            + table.to_string(index=False, float_format=lambda v: f'{v:.4g}') + '\n')


def page_links(files: list[str], prefix: str = '') -> list[tuple[str, str]]:
  """(text, href) pairs for another page to link the analysis: the index page, then every
  PNG. `files` as returned by `write_analysis`; `prefix` is the analysis folder relative to
  the linking page (e.g. 'analysis')."""
  labels = {'curves_': 'Learning curves', 'sensitivity_': 'Hyperparameter sensitivity'}
  links = []
  for name in files:
    href = f'{prefix.rstrip("/")}/{name}' if prefix else name
    if name == 'index.html':
      links.insert(0, ('Training analysis: curves, sensitivity, summary', href))
    for start, label in labels.items():
      if name.startswith(start) and name.endswith('.png'):
        links.append((f'{label}: {name[len(start):-len(".png")]}', href))
  return links
