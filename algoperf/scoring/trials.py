"""Per-trial results: did the trial reach its targets, when, and what was its best value.

A trial's time-to-target is the `score` (accumulated submission time, cumulative across
preemptions) at the first eval whose validation metric meets the target (`>=` when higher is
better, `<=` when lower); infinity if none does. With `enforce_budget`, evals logged after the
budget (max_runtime x ruleset factor) cannot reach the target: `algoperf.budget`, the rule the
runner applies too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from algoperf.budget import within_budget
from algoperf.scoring.reader import TRIAL_KEYS, natural_key
from algoperf.scoring.targets import BenchmarkTargets, WorkloadTarget


def _split_result(rows: pd.DataFrame, target: WorkloadTarget, split: str,
                  budget: float | None) -> dict:
  values = rows[split].to_numpy(dtype=float)
  scores = rows['score'].to_numpy(dtype=float)
  hits = target.meets(values, split)
  if budget is not None:
    hits &= within_budget(scores, budget)
  first = int(np.argmax(hits)) if hits.any() else -1
  finite = ~np.isnan(values)
  if finite.any():
    best_index = int(np.nanargmax(values) if target.higher_is_better else np.nanargmin(values))
    best, time_to_best = values[best_index], scores[best_index]
  else:
    best, time_to_best = np.nan, np.nan
  return {
      f'{split}_reached': first >= 0,
      f'{split}_eval_index': first,
      f'{split}_time_to_target': scores[first] if first >= 0 else np.inf,
      f'{split}_best': best,
      f'{split}_time_to_best': time_to_best,
  }


def trial_results(evals: pd.DataFrame, targets: BenchmarkTargets, ruleset: str = 'external',
                  enforce_budget: bool = True) -> pd.DataFrame:
  """One row per trial, validation and test: reached?, eval index, time, best value."""
  records = []
  for keys, rows in evals.groupby(TRIAL_KEYS, sort=False):
    key = dict(zip(TRIAL_KEYS, keys, strict=True))
    target = targets.workloads[key['workload']]
    budget = targets.budget(key['workload'], ruleset) if enforce_budget else None
    rows = rows.sort_values('eval_index')
    records.append({
        **key,
        'metric': target.metric,
        'validation_target': target.validation_target,
        'test_target': target.test_target,
        'num_evals': len(rows),
        'final_score': float(rows['score'].iloc[-1]),
        **_split_result(rows, target, 'validation', budget),
        **_split_result(rows, target, 'test', budget),
    })
  columns = TRIAL_KEYS + ['metric', 'validation_target', 'test_target', 'num_evals',
                          'final_score']
  if not records:
    return pd.DataFrame(columns=columns)
  frame = pd.DataFrame.from_records(records)
  return sort_trials(frame)


def sort_trials(frame: pd.DataFrame) -> pd.DataFrame:
  """Order by submission, workload, study and trial number (study_10 after study_9)."""
  keys = {'_study': frame['study'].map(lambda s: tuple(natural_key(s))),
          '_trial': frame['trial'].map(lambda s: tuple(natural_key(s)))}
  ordered = frame.assign(**keys).sort_values(
      ['submission', 'workload', '_study', 'experiment', '_trial'], kind='stable')
  return ordered.drop(columns=list(keys)).reset_index(drop=True)
