"""What a trial is held to: target, direction, eval period, read once from the workload.

The runner reads these before any submission code runs (the trial process captures them
before it imports the submission) and never asks the workload again, so nothing a
submission does to a workload object, its class or its module changes when evals fall due
or what counts as reaching a target.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from algoperf import spec


@dataclasses.dataclass(frozen=True)
class TrialTerms:
  target_metric_name: str
  target_metric_higher_is_better: bool
  validation_target_value: float
  test_target_value: float | None
  eval_period_time_sec: float
  has_test: bool
  loss_type: spec.LossType

  @classmethod
  def of(cls, workload: spec.Workload) -> TrialTerms:
    test_target = workload.test_target_value
    return cls(
        target_metric_name=str(workload.target_metric_name),
        target_metric_higher_is_better=bool(workload.target_metric_higher_is_better),
        validation_target_value=float(workload.validation_target_value),
        test_target_value=None if test_target is None else float(test_target),
        eval_period_time_sec=float(workload.eval_period_time_sec),
        has_test=workload.num_test_examples is not None, loss_type=workload.loss_type)

  def reached(self, eval_result: dict[str, Any], split: str) -> bool:
    """Whether `split`'s target metric meets its target; a non-finite value never does."""
    target = (self.validation_target_value if split == 'validation'
              else self.test_target_value)
    value = eval_result.get(f'{split}/{self.target_metric_name}')
    if value is None or target is None or not math.isfinite(value):
      return False
    return value >= target if self.target_metric_higher_is_better else value <= target
