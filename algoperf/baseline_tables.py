"""Markdown tables of a suite's stored baselines, computed from their logs by the scorer.

`baselines/summarize.py` writes them into baselines/README.md between the summarize
markers, and a test checks the README still matches the committed logs.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from algoperf import scoring, speed_compare
from algoperf.progress import format_duration
from algoperf.scoring.pipeline import ensemble_submissions, ensemble_table
from algoperf.suite import Suite

CORE_BASELINE = 'nadamw'
MARKERS = ('<!-- summarize:begin -->', '<!-- summarize:end -->')


def _seconds(value: float) -> str:
  return '—' if not np.isfinite(value) else f'{value:.1f} s'


def _table(header: list[str], rows: list[list[str]]) -> str:
  return scoring.markdown_table(pd.DataFrame(rows, columns=header))


def _evals(suite: Suite, runs_dir: str) -> pd.DataFrame:
  return scoring.read_submissions(runs_dir, suite.targets, scoring.Issues())


def _trial_results(suite: Suite, evals: pd.DataFrame):
  return scoring.trial_results(evals, suite.targets)


def _workload_times(results, algorithms, workloads):
  """Algorithms x workloads: each workload's time over its studies, as the scorer takes it."""
  return scoring.workload_times(scoring.study_times(results), algorithms, workloads)


def times_to_target(suite: Suite, runs_dir: str,
                    algorithms: list[str]) -> dict[str, dict[str, float | None]]:
  """Algorithm -> workload it ran -> time to the suite's current targets (None: missed)."""
  results = _trial_results(suite, _evals(suite, runs_dir))
  times = _workload_times(results, algorithms, sorted(set(results['workload'])))
  # NaN: the algorithm has no runs there (e.g. a variant only the core baseline ran).
  return {a: {w: (float(t) if np.isfinite(t) else None) for w, t in times.loc[a].items()
              if not np.isnan(t)}
          for a in algorithms}


def summary(suite: Suite, runs_dir: str, manifest: dict, per_trial=(CORE_BASELINE,)) -> str:
  """Time to target per algorithm and workload (+ wall time), the variants run, then
  per-trial breakdowns, then the ensembles in their own table (docs/ensembles.md)."""
  evals = _evals(suite, runs_dir)
  results = _trial_results(suite, evals)
  present = set(results['workload'])
  workloads = [w for w in suite.base_workloads if w in present]
  variants = [w for w in suite.variants if w in present]
  # The core baseline first, then alphabetical; ensembles apart, as the leaderboard has them.
  stored = sorted((a for a in manifest['algorithms'] if a in set(results['submission'])),
                  key=lambda a: (a != CORE_BASELINE, a))
  evaluated_ensembles = set(ensemble_submissions(evals))
  algorithms = [a for a in stored if a not in evaluated_ensembles]
  ensembles = [a for a in stored if a in evaluated_ensembles]
  times = _workload_times(results, stored, workloads + variants)
  # Baselines recorded on a machine of another speed are marked, and said why below.
  elsewhere = speed_compare.other_machines(speed_compare.reference_of(manifest, runs_dir))

  def time_rows(names):
    return [[a + (f' {speed_compare.OTHER_MACHINE}' if a in elsewhere else ''),
             *(_seconds(times.loc[a, w]) for w in workloads),
             f'{int(np.isfinite(times.loc[a, workloads]).sum())}/{len(workloads)}',
             format_duration(manifest['algorithms'][a]['wall_sec'])] for a in names]

  header = ['algorithm', *workloads, 'reached', 'suite wall time']
  lines = ['Submission time to the validation target (— = not reached within the budget):', '']
  lines.append(_table(header, time_rows(algorithms)))
  if variants:
    lines += ['The variants (robustness checks, not scored), for the algorithms run on them:',
              '']
    lines.append(_table(
        ['algorithm', 'variant', 'validation target', 'time to target', 'its base',
         'base time to target'],
        [[a, v, suite.entry(v).target_text, _seconds(times.loc[a, v]), suite.entry(v).base_workload,
          _seconds(times.loc[a, suite.entry(v).base_workload])]
         for a in algorithms for v in variants
         if not np.isnan(times.loc[a, v])]))  # NaN: the algorithm has no runs there
  for name in per_trial:
    mine = results[results['submission'] == name]
    if mine.empty:
      continue
    trial_names = sorted(set(mine['trial']), key=scoring.reader.natural_key)
    # Each table ends in a newline, which the join turns into the blank line before this.
    lines += [f'{name} per trial (time to target, else best validation value):', '']
    rows = []
    for w in workloads + variants:
      by_trial = mine[mine['workload'] == w].set_index('trial')
      if by_trial.empty:
        continue
      rows.append([w, *(_seconds(by_trial.loc[t, 'validation_time_to_target'])
                        if by_trial.loc[t, 'validation_reached']
                        else f'— ({by_trial.loc[t, "validation_best"]:.5g})'
                        for t in trial_names)])
    lines.append(_table(['workload', *(t.replace('trial_', '') for t in trial_names)], rows))
  if ensembles:
    members = ensemble_table(evals, times, ensembles)['members']
    lines += ['Ensembles (evaluated as several models, outside AlgoPerf\'s rules: a category '
              'of their own, never in the score; most members in one eval):', '']
    lines.append(_table(header[:1] + ['members'] + header[1:],
                        [[row[0], str(int(members[name])), *row[1:]]
                         for name, row in zip(ensembles, time_rows(ensembles), strict=True)]))
  if elsewhere:
    lines += [f'{speed_compare.OTHER_MACHINE} Recorded on another machine than the core '
              'baseline\'s, so not comparable with the other rows: its own probe of NAdamW\'s '
              'step against the core baseline\'s machine (slower: fewer steps in the same '
              'budget).', '']
    lines += [f'- {name}: {speed_compare.speeds_text(factors)}'
              for name, factors in elsewhere.items()]
    lines.append('')
  return '\n'.join(lines)


def _block_pattern() -> re.Pattern:
  return re.compile(re.escape(MARKERS[0]) + r'\n(.*?)' + re.escape(MARKERS[1]), re.S)


def marked_block(text: str) -> str | None:
  """The content between the summarize markers of `text`, or None without markers."""
  match = _block_pattern().search(text)
  return match.group(1) if match else None


def replace_block(text: str, block: str) -> str:
  """`text` with the content between the summarize markers replaced by `block`."""
  if marked_block(text) is None:
    raise ValueError(f'no {MARKERS[0]} ... {MARKERS[1]} block to replace')
  return _block_pattern().sub(lambda _: f'{MARKERS[0]}\n{block}{MARKERS[1]}', text)
