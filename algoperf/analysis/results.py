"""Per-trial outcomes (reached?, time to target, best and final value) and the best trial.

Time to target and best value come from the scorer (`scoring.trials.trial_results`), so a
trial reaches its target here exactly when it does on the leaderboard: the first eval whose
validation metric meets the target (`>=` or `<=`), within the budget when enforced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from algoperf.analysis import runs as runs_lib
from algoperf.analysis import workload_targets
from algoperf.scoring import trials as scoring_trials
from algoperf.scoring.issues import Issues
from algoperf.scoring.reader import TRIAL_KEYS as SCORER_KEYS
from algoperf.scoring.targets import WorkloadTarget


def scorer_evals(evals: pd.DataFrame, targets: dict[str, WorkloadTarget],
                 issues: Issues) -> pd.DataFrame:
  """The eval rows in the scorer's schema: `validation`/`test` hold the target metric."""
  frames = []
  for workload, rows in evals.groupby('workload', sort=False):
    if workload not in targets:
      continue
    target = targets[workload]
    columns = {split: target.column(split) for split in ('validation', 'test')}
    if columns['validation'] not in rows or rows[columns['validation']].isna().all():
      issues.warn(f'workload {workload!r}: no {columns["validation"]} values in its eval '
                  'files; its trials never reach the target')
    frames.append(rows.assign(**{
        split: rows[column] if column in rows else np.nan for split, column in columns.items()}))
  if not frames:
    return pd.DataFrame(columns=runs_lib.TRIAL_KEYS + ['eval_index', 'score', 'validation',
                                                        'test'])
  return pd.concat(frames, ignore_index=True)


def trial_outcomes(runs: runs_lib.Runs, targets: dict[str, WorkloadTarget],
                   enforce_budget: bool = True, issues: Issues | None = None) -> pd.DataFrame:
  """One row per trial: the scorer's per-trial results plus runs, seed, status, hparams and
  `validation_final` (the last eval's value)."""
  issues = issues or Issues()
  evals = scorer_evals(runs.evals, targets, issues)
  if evals.empty:
    return pd.DataFrame(columns=SCORER_KEYS + [
        'metric', 'validation_reached', 'validation_time_to_target', 'validation_best',
        'validation_final', 'framework', 'runs', 'path', 'seed', 'status', 'hparams'])
  results = scoring_trials.trial_results(evals, workload_targets.as_benchmark(targets),
                                         'external', enforce_budget)
  last = evals.sort_values('eval_index').groupby(SCORER_KEYS, sort=False).tail(1)
  final = last.set_index(SCORER_KEYS)['validation'].rename('validation_final')
  facts = runs.trials.set_index(SCORER_KEYS)[['framework', 'runs', 'path', 'seed', 'status',
                                              'hparams']]
  return results.join(final, on=SCORER_KEYS).join(facts, on=SCORER_KEYS)


def best_trial(outcomes: pd.DataFrame, higher_is_better: bool) -> pd.Series | None:
  """The trial that reached the target fastest; if none did, the best validation value.

  Ties go to the first trial in study/trial order. None when no trial has a finite value.
  """
  if outcomes.empty:
    return None
  reached = outcomes[outcomes['validation_reached'].astype(bool)]
  if not reached.empty:
    return reached.loc[reached['validation_time_to_target'].astype(float).idxmin()]
  values = outcomes['validation_best'].astype(float)
  if values.isna().all():
    return None
  return outcomes.loc[values.idxmax() if higher_is_better else values.idxmin()]


def best_reason(trial: pd.Series) -> str:
  """Why `best_trial` chose this trial, in words."""
  if bool(trial['validation_reached']):
    return f'reached the validation target fastest ({trial["validation_time_to_target"]:.4g} s)'
  return f'no trial reached the target; best validation value ({trial["validation_best"]:.4g})'
