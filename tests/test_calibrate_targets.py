"""Lite targets: derived from the kept calibration records (benchmarks/calibrate_targets.py)."""

import json
import os

import pytest

from algoperf import suite as suite_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _runs(pairs):
  return [{'best_validation': v, 'best_test': t, 'steps': 10} for v, t in pairs]


def test_targets_are_the_worst_best_value_over_seeds():
  accuracy = _runs([(0.95, 0.94), (0.93, 0.96), (0.97, 0.92)])
  assert suite_lib.targets_from_runs(accuracy, higher_is_better=True) == (0.93, 0.92)
  loss = _runs([(2.5, 2.6), (2.7, 2.4), (2.6, 2.5)])
  assert suite_lib.targets_from_runs(loss, higher_is_better=False) == (2.7, 2.6)


def test_rounding_never_makes_a_target_harder_than_the_worst_run():
  # 0.99475 rounds to 0.9948 to nearest, which the run itself did not reach.
  accuracy = _runs([(0.99475, 0.99185), (0.9952, 0.9936)])
  assert suite_lib.targets_from_runs(accuracy, higher_is_better=True) == (0.9947, 0.9918)
  loss = _runs([(2.59215, 2.38631), (2.5, 2.3)])
  assert suite_lib.targets_from_runs(loss, higher_is_better=False) == (2.5922, 2.3864)
  exact = _runs([(0.9367, 0.935)])
  assert suite_lib.targets_from_runs(exact, higher_is_better=True) == (0.9367, 0.935)


@pytest.mark.parametrize('name', list(suite_lib.load_suite().workloads))
def test_suite_numbers_follow_from_the_stored_records(name):
  """The suite file holds exactly what the kept calibration record implies."""
  entry = suite_lib.load_suite().entry(name)
  with open(os.path.join(ROOT, entry.calibration)) as f:
    record = json.load(f)
  assert (entry.validation_target, entry.test_target) == suite_lib.targets_from_runs(
      record['runs'], entry.higher_is_better)
  assert (entry.step_hint, entry.budget_sec) == (
      record['step_hint'], record['max_allowed_runtime_sec'])
  assert record['target_statistic'] == suite_lib.TARGET_STATISTIC
