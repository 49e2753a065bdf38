"""The runner with `prepare_for_eval` returning a `spec.Ensemble` (docs/ensembles.md)."""

import os
import sys
import textwrap

import jax
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import toy_workload  # noqa: E402

from algoperf import runner, submission  # noqa: E402
from workloads import registry  # noqa: E402

SGD = os.path.join(os.path.dirname(__file__), 'submissions', 'sgd.py')

# Members: the training params and a copy moved by `shift`; the most recent one last.
ENSEMBLE_PREPARE = """
import jax.numpy as jnp

SHIFT = {shift}

def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step,
                     rng):
  moved = jax.tree.map(lambda x: x + SHIFT, current_param_container)
  return optimizer_state, spec.Ensemble.stack(
      [(moved, model_state), (current_param_container, model_state)]), model_state
"""


def _submission(tmp_path, body='', name='sub.py'):
  path = tmp_path / name
  path.write_text(open(SGD).read() + '\n' + textwrap.dedent(body))
  return submission.load_submission(str(path))


def _run(workload, sub, log_dir=None, steps=12):
  return runner.run_trial(runner.TrialConfig(
      workload=workload, workload_name='noisy_quadratic', submission=sub,
      hyperparameters=None, seed=0, global_batch_size=32, eval_batch_size=10_000,
      budget_sec=workload.max_allowed_runtime_sec, max_global_steps=steps,
      log_dir=None if log_dir is None else str(log_dir), show_progress=False,
      stop_at_targets=False))


def test_ensemble_is_evaluated_logged_and_training_continues_from_its_own_params(tmp_path):
  workload = registry.get_workload('noisy_quadratic')
  plain = _run(workload, _submission(tmp_path, name='plain.py'))
  with_ensemble = _run(workload, _submission(tmp_path, ENSEMBLE_PREPARE.format(shift=0.5)),
                       log_dir=tmp_path / 'trial')
  # Training never saw the ensemble: the same steps give the same params, bit for bit.
  jax.tree.map(np.testing.assert_array_equal, with_ensemble.params, plain.params)
  rows = pd.read_csv(tmp_path / 'trial' / 'eval_measurements.csv')
  assert (rows['ensemble_members'] == 2).all()
  assert (rows['ensemble_extra_bytes'] == 100 * 4).all()  # one more float32 theta
  # The last member alone is the training point: its metrics are the plain run's.
  plain_final = plain.eval_results[-1][1]
  assert rows['last_member/validation/loss'].iloc[-1] == pytest.approx(
      plain_final['validation/loss'], rel=1e-6)
  # The ensemble's prediction is the mean of both members': theta moved by half the shift.
  halfway = {'theta': plain.params['theta'] + 0.25}
  expected = workload.eval_model(10_000, halfway, None, None, '', None, 0)
  assert rows['validation/loss'].iloc[-1] == pytest.approx(
      expected['validation/loss'], rel=1e-5)
  assert with_ensemble.ensemble.num_members == 2
  assert with_ensemble.summary()['ensemble_members'] == 2


BAD_SHAPES = """
import jax.numpy as jnp

def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step,
                     rng):
  wrong = jax.tree.map(lambda x: jnp.zeros((2, 3)), current_param_container)
  return optimizer_state, spec.Ensemble(wrong), model_state
"""


def test_an_ensemble_of_wrong_shapes_is_one_error_naming_prepare_for_eval(tmp_path):
  workload = registry.get_workload('noisy_quadratic')
  with pytest.raises(submission.SubmissionError,
                     match=r'prepare_for_eval.*ensemble.*other shapes'):
    _run(workload, _submission(tmp_path, BAD_SHAPES), steps=3)


def test_a_workload_that_cannot_average_refuses_ensembles(tmp_path):
  workload = toy_workload.ToyRegressionWorkload(validation_target=-1.0, test_target=-1.0)
  sub = _submission(tmp_path, ENSEMBLE_PREPARE.format(shift=0.0))
  with pytest.raises(submission.SubmissionError,
                     match=r'ToyRegressionWorkload cannot evaluate ensembles'):
    runner.run_trial(runner.TrialConfig(
        workload=workload, workload_name='toy', submission=sub, hyperparameters=None,
        seed=0, global_batch_size=32, eval_batch_size=64, budget_sec=30.0,
        max_global_steps=3, show_progress=False))
