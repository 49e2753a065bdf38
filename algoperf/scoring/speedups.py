"""Speedup of each submission over a baseline: a simpler number than the benchmark score.

Per base workload the time ratio t_submission / t_baseline, using the per-workload times
before held-out gating and the tau_max cutoff (as AlgoPerf's `compute_speedups.py` does). A
miss (infinite time) is replaced by the workload's budget (max_runtime x ruleset factor), so a
miss costs exactly a full budget. `time_ratio` is the geometric mean of those ratios (below 1:
faster than the baseline); `speedup` = 1 / time_ratio is the documented "speedup over the
reference", the geometric mean of t_baseline / t_submission.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from algoperf.scoring.targets import BenchmarkTargets


def capped_times(times: pd.DataFrame, targets: BenchmarkTargets, ruleset: str) -> pd.DataFrame:
  """Base-workload times with misses (and missing runs) replaced by the budget."""
  base = list(targets.base_workloads)
  budgets = pd.Series({w: targets.budget(w, ruleset) for w in base})
  capped = times.reindex(columns=base).astype(float)
  return capped.mask(~np.isfinite(capped), budgets, axis=1)


def speedups(times: pd.DataFrame, baseline: str, targets: BenchmarkTargets,
             ruleset: str = 'external') -> pd.DataFrame:
  """Per submission: per-workload time ratios, their geometric mean and its inverse."""
  if baseline not in times.index:
    raise ValueError(f'baseline submission {baseline!r} is not among the scored submissions '
                     f'{list(times.index)}')
  capped = capped_times(times, targets, ruleset)
  ratios = capped.div(capped.loc[baseline], axis=1)
  time_ratio = np.exp(np.log(ratios).mean(axis=1))
  table = ratios.add_prefix('ratio/')
  table.insert(0, 'speedup', 1.0 / time_ratio)
  table.insert(0, 'time_ratio', time_ratio)
  table.insert(0, 'baseline', baseline)
  return table.rename_axis('submission').reset_index()
