"""Each analysed workload's target metric, direction, targets and budget.

A targets file (algoperf/scoring/targets.py) is the reference, so analysis and the
leaderboard agree; a workload the file does not list falls back to what its trials recorded
in meta_data (`target_metric_name`, `target_metric_higher_is_better`, the target values and
`budget_sec`). A workload with neither is left out, with a warning: the metric's direction
is never guessed from its name.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from algoperf.scoring.issues import Issues
from algoperf.scoring.targets import BenchmarkTargets, RulesetCounts, WorkloadTarget


def _number(value) -> float:
  try:
    number = float(value)
  except (TypeError, ValueError):
    return math.nan
  return number


def from_meta_data(workload: str, meta: dict) -> WorkloadTarget | None:
  """The target a trial recorded for itself; None when it did not name its metric."""
  if not meta.get('target_metric_name'):
    return None
  budget = _number(meta.get('budget_sec'))
  return WorkloadTarget(
      name=workload, metric=meta['target_metric_name'],
      # AlgoPerf's Workload default: higher is better unless the workload says otherwise.
      higher_is_better=bool(meta.get('target_metric_higher_is_better', True)),
      validation_target=_number(meta.get('validation_target_value')),
      test_target=_number(meta.get('test_target_value')),
      max_runtime_sec=budget if math.isfinite(budget) else math.inf,
      base_workload=workload)


def resolve(trials: pd.DataFrame, benchmark: BenchmarkTargets | None, ruleset: str,
            issues: Issues) -> dict[str, WorkloadTarget]:
  """workload -> target; `max_runtime_sec` is the trial budget (ruleset factor applied)."""
  resolved = {}
  for workload, group in trials.groupby('workload', sort=True):
    if benchmark is not None and workload in benchmark.workloads:
      resolved[workload] = dataclasses.replace(
          benchmark.workloads[workload],
          max_runtime_sec=benchmark.budget(workload, ruleset))
      continue
    found = (from_meta_data(workload, meta) for meta in group['meta'])
    target = next((t for t in found if t is not None), None)
    if target is None:
      where = f'the targets file {benchmark.source}' if benchmark is not None else 'no targets file'
      issues.warn(f'workload {workload!r}: not in {where} and no trial recorded '
                  'target_metric_name in meta_data; left out of the analysis')
      continue
    resolved[workload] = target
  return resolved


def as_benchmark(targets: dict[str, WorkloadTarget]) -> BenchmarkTargets:
  """The resolved targets in the scorer's container; budgets already hold the ruleset factor."""
  unit = RulesetCounts(num_studies=1, trials_per_study=1, budget_factor=1.0)
  return BenchmarkTargets(version='analysis', source='<resolved targets>', workloads=targets,
                          base_workloads=tuple(targets), held_out_workloads=(),
                          rulesets={'external': unit, 'self': unit})
