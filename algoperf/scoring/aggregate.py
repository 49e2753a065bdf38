"""From trials to one time per submission and workload: best trial per study, median of studies.

External tuning: per study the best trial, per workload the median over studies (an infinite
study time takes part in the median). Self-tuning: each study holds one run, so the same rule
reduces to the median of the runs.

"Best trial" is, by AlgoPerf's documented rule, the trial with the least time to target
(`least_time`). AlgoPerf's official scorer instead takes the trial that reaches the target at
the earliest eval index (`earliest_eval`); a tie on the index goes to the smaller time to
target, then to the lower trial number.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from algoperf.scoring.issues import Issues
from algoperf.scoring.targets import BenchmarkTargets

TRIAL_SELECTIONS = ('least_time', 'earliest_eval')
STUDY_KEYS = ['submission', 'workload', 'study']


def _select(study: pd.DataFrame, trial_selection: str) -> dict:
  reached = study[study['validation_reached']]
  if reached.empty:
    return {'time_to_target': np.inf, 'selected_trial': None, 'selected_experiment': None}
  # earliest_eval: ties on the index go to the smaller time to target (AlgoPerf's scorer
  # takes whichever trial the filesystem lists first); then to the lower trial number
  # (trials come in number order and the sort is stable).
  keys = (['validation_time_to_target'] if trial_selection == 'least_time'
          else ['validation_eval_index', 'validation_time_to_target'])
  best = reached.sort_values(keys, kind='stable').iloc[0]
  return {'time_to_target': float(best['validation_time_to_target']),
          'selected_trial': best['trial'], 'selected_experiment': best['experiment']}


def study_times(trials: pd.DataFrame, trial_selection: str = 'least_time') -> pd.DataFrame:
  """One row per (submission, workload, study): the selected trial and its time."""
  if trial_selection not in TRIAL_SELECTIONS:
    raise ValueError(f'trial_selection must be one of {TRIAL_SELECTIONS}, got '
                     f'{trial_selection!r}')
  records = [{**dict(zip(STUDY_KEYS, keys, strict=True)), 'num_trials': len(group),
              **_select(group, trial_selection)}
             for keys, group in trials.groupby(STUDY_KEYS, sort=False)]
  return pd.DataFrame.from_records(
      records, columns=STUDY_KEYS + ['num_trials', 'time_to_target', 'selected_trial',
                                     'selected_experiment'])


def workload_times(studies: pd.DataFrame, submissions: Iterable[str],
                   workloads: Iterable[str]) -> pd.DataFrame:
  """Median study time, submissions x workloads; NaN where a submission has no runs."""
  medians = studies.groupby(['submission', 'workload'])['time_to_target'].median()
  table = medians.unstack('workload') if not medians.empty else pd.DataFrame()
  table = table.reindex(index=list(submissions), columns=list(workloads)).astype(float)
  table.index.name, table.columns.name = 'submission', 'workload'
  return table


def check_counts(studies: pd.DataFrame, submissions: Iterable[str], workloads: Iterable[str],
                 targets: BenchmarkTargets, ruleset: str, issues: Issues) -> None:
  """Warn (error under strict) about missing workloads and unexpected study/trial counts."""
  expected = targets.rulesets[ruleset]
  workloads = list(workloads)
  studies = studies[studies['workload'].isin(workloads)]
  counts = studies.groupby(['submission', 'workload'])['study'].nunique()
  for submission in submissions:
    for workload in workloads:
      if (submission, workload) not in counts.index:
        issues.warn(f'submission {submission!r} has no runs of workload {workload!r}; '
                    'it scores infinity there')
      elif counts[(submission, workload)] != expected.num_studies:
        issues.warn(f'submission {submission!r}, workload {workload!r}: '
                    f'{counts[(submission, workload)]} studies, expected '
                    f'{expected.num_studies} ({ruleset} ruleset, {targets.version})')
  off = studies[studies['num_trials'] != expected.trials_per_study]
  for (submission, num_trials), rows in off.groupby(['submission', 'num_trials']):
    where = ', '.join(f'{w} {s}' for w, s in zip(rows['workload'], rows['study'], strict=True))
    issues.warn(f'submission {submission!r}: {num_trials} trials per study, expected '
                f'{expected.trials_per_study} ({ruleset} ruleset, {targets.version}) in '
                f'{where}')
