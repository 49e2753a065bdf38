"""The summary table: one row per (submission, workload, series of trials).

Columns: the trials and how many reached the validation target; time to target, median
over trials (a miss counts as infinity, as the scorer's median over studies does, so the
median is infinite when half or more of the trials missed) and best; the best validation
value over all evals of all trials; the best trial (`results.best_trial`: fastest to the
target, else best value) and its hyperparameters, i.e. the tuned setting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from algoperf.analysis import results
from algoperf.scoring.targets import WorkloadTarget

GROUP_KEYS = ['submission', 'workload', 'series']
COLUMNS = GROUP_KEYS + ['runs', 'metric', 'higher_is_better', 'validation_target', 'studies',
                        'trials', 'reached', 'time_to_target_median', 'time_to_target_best',
                        'best_validation', 'best_trial', 'best_trial_seed', 'best_hparams']


def trial_label(trial: pd.Series) -> str:
  """`study_0/trial_2`, prefixed by the experiment folder when there is one."""
  parts = [trial['experiment']] if trial['experiment'] not in ('.', '') else []
  return '/'.join(parts + [trial['study'], trial['trial']])


def summary_table(outcomes: pd.DataFrame, targets: dict[str, WorkloadTarget]) -> pd.DataFrame:
  """One row per group of `outcomes` (see the module docstring); `best_hparams` is a dict."""
  records = []
  for keys, group in outcomes.groupby(GROUP_KEYS, sort=False):
    key = dict(zip(GROUP_KEYS, keys, strict=True))
    target = targets[key['workload']]
    times = group['validation_time_to_target'].to_numpy(dtype=float)
    bests = group['validation_best'].to_numpy(dtype=float)
    finite = bests[np.isfinite(bests)]
    best_value = (np.nan if finite.size == 0 else
                  finite.max() if target.higher_is_better else finite.min())
    best = results.best_trial(group, target.higher_is_better)
    records.append({
        **key,
        'runs': group['runs'].iloc[0],
        'metric': target.metric,
        'higher_is_better': target.higher_is_better,
        'validation_target': target.validation_target,
        'studies': group[['experiment', 'study']].drop_duplicates().shape[0],
        'trials': len(group),
        'reached': int(group['validation_reached'].astype(bool).sum()),
        'time_to_target_median': float(np.median(times)),
        'time_to_target_best': float(times.min()),
        'best_validation': best_value,
        'best_trial': None if best is None else trial_label(best),
        'best_trial_seed': None if best is None or pd.isna(best['seed']) else int(best['seed']),
        'best_hparams': {} if best is None else dict(best['hparams'] or {}),
    })
  table = pd.DataFrame.from_records(records, columns=COLUMNS)
  return table.astype({'best_trial_seed': 'Int64'})


def format_hparams(hparams: dict) -> str:
  """`learning_rate=0.003, beta2=0.999` (floats to 4 significant digits)."""
  def fmt(value):
    return f'{value:.4g}' if isinstance(value, float) else str(value)
  return ', '.join(f'{k}={fmt(v)}' for k, v in hparams.items())


def csv_table(summary: pd.DataFrame) -> pd.DataFrame:
  """The table for CSV: one `hp/<name>` column per tuned hyperparameter."""
  hparams = pd.DataFrame.from_records(list(summary['best_hparams']), index=summary.index)
  return summary.drop(columns='best_hparams').join(hparams.add_prefix('hp/'))


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
  """The table for Markdown/HTML: hyperparameters as one readable cell."""
  shown = summary.drop(columns=['runs', 'higher_is_better'])
  seeds = summary['best_trial_seed'].map(lambda s: '' if pd.isna(s) else str(s))
  return shown.assign(best_trial_seed=seeds,
                      best_hparams=summary['best_hparams'].map(format_hparams)).rename(
      columns={'best_hparams': 'tuned hyperparameters (best trial)'})
