"""Workload constants that a suite definition owns: targets, budget, eval period, step hint.

A suite workload declares `@from_suite('name')` instead of hard-coding these numbers, so
the suite file (algoperf/scoring/targets/lite_v1.json), which calibration rewrites and
the scorer reads, is their single source.
"""

from __future__ import annotations

from algoperf import suite


def from_suite(name: str, suite_name: str = suite.LITE):
  """Class decorator setting VALIDATION_TARGET, TEST_TARGET, BUDGET_SEC, EVAL_PERIOD_SEC
  and STEP_HINT from the suite's entry `name`."""

  def decorate(cls):
    entry = suite.load_suite(suite_name).entry(name)
    cls.VALIDATION_TARGET = entry.validation_target
    cls.TEST_TARGET = entry.test_target
    cls.BUDGET_SEC = entry.budget_sec
    cls.EVAL_PERIOD_SEC = entry.eval_period_sec
    cls.STEP_HINT = entry.step_hint
    return cls

  return decorate
