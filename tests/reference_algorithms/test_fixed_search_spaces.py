"""Every externally tuned reference algorithm has the fixed point list its stored baseline runs.

`baselines/regenerate.py` runs `reference_algorithms/<name>/tuning_search_space_fixed.json`;
a list that names other hyperparameters than the algorithm's search space, holds fewer points
than the suite's external protocol, or breaks the submission would only show up there, after
minutes of training.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import refalg_testlib as lib  # noqa: E402

from algoperf import suite as suite_lib  # noqa: E402
from algoperf import tuning  # noqa: E402

TUNED = sorted(
    name for name in os.listdir(lib.REFERENCE_DIR)
    if os.path.exists(os.path.join(lib.REFERENCE_DIR, name, 'tuning_search_space.json')))


def _spaces(name):
  directory = os.path.join(lib.REFERENCE_DIR, name)
  return (tuning.load_search_space(os.path.join(directory, 'tuning_search_space.json')),
          tuning.load_search_space(os.path.join(directory, 'tuning_search_space_fixed.json')))


def test_every_tuned_algorithm_is_found():
  assert len(TUNED) == 17, TUNED


@pytest.mark.parametrize('name', TUNED)
def test_fixed_list_matches_the_search_space_and_the_protocol(name):
  space, fixed = _spaces(name)
  assert isinstance(fixed, tuning.FixedSpace)
  assert set(fixed.names) == set(space.names), name
  protocol = suite_lib.load_suite(suite_lib.LITE).targets.rulesets['external']
  assert len(fixed.points) == protocol.trials_per_study
  assert len(set(fixed.points)) == len(fixed.points), 'repeated point'


@pytest.mark.parametrize('name', TUNED)
def test_every_fixed_point_builds_and_the_first_trains(name):
  _, fixed = _spaces(name)
  hp_type = tuning.hyperparameters_type(fixed.names)
  points = [hp_type(*values) for values in fixed.points]
  workload = lib.ToyRegressionWorkload(step_hint=20)
  sub = lib.load(name)
  params, model_state = workload.init_model_fn(jax.random.key(0))
  for hp in points:
    sub.init_optimizer_state(workload, params, model_state, hp, jax.random.key(1))
  _, params, _ = lib.run_trial(sub, workload, points[0], num_steps=3)
  assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(params))
