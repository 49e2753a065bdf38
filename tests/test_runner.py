"""The runner's rules (docs/runner_rules.md), each forced on the toy workload."""

import os
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import toy_workload  # noqa: E402

from algoperf import runner, submission  # noqa: E402
from algoperf.clock import SubmissionClock  # noqa: E402

SGD = os.path.join(os.path.dirname(__file__), 'submissions', 'sgd.py')
UNREACHABLE = -1.0  # A loss target no model reaches.


def _config(workload, sub_path=SGD, log_dir=None, seed=0, **kwargs):
  kwargs.setdefault('budget_sec', workload.max_allowed_runtime_sec)
  return runner.TrialConfig(
      workload=workload, workload_name='toy', submission=submission.load_submission(sub_path),
      hyperparameters=None, seed=seed, global_batch_size=32, eval_batch_size=64,
      log_dir=None if log_dir is None else str(log_dir), show_progress=False, **kwargs)


def _write_submission(tmp_path, body, name='sub.py'):
  """A submission = the SGD one plus overrides given in `body`."""
  with open(SGD) as f:
    base = f.read()
  path = tmp_path / name
  path.write_text(base + '\n' + textwrap.dedent(body))
  return str(path)


def test_eval_is_off_the_clock(tmp_path):
  workload = toy_workload.ToyRegressionWorkload(
      validation_target=UNREACHABLE, test_target=UNREACHABLE, slow_eval_sec=0.2)
  result = runner.run_trial(_config(workload, log_dir=tmp_path / 't', max_global_steps=50))
  assert result.status == runner.MAX_STEPS
  evals = len(result.eval_results)
  assert evals >= 2
  # Each eval sleeps 0.2 s: that time is eval time, and none of it is submission time.
  assert result.eval_time >= 0.2 * evals
  assert result.submission_time < result.eval_time
  rows = pd.read_csv(tmp_path / 't' / 'eval_measurements.csv')
  assert (rows['score'] == rows['accumulated_submission_time']).all()
  assert rows['accumulated_eval_time'].iloc[-1] >= 0.2 * (evals - 1)


HEAVY = """
_N = 1200

@jax.jit
def _heavy(x):
  def body(i, acc):
    return jnp.tanh(acc @ acc) * 0.5
  return jax.lax.fori_loop(0, 3, body, x)

import jax.numpy as jnp

def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  tx = optax.sgd(0.1)
  return {'opt': tx.init(model_params), 'heavy': jnp.eye(_N) * 0.01}, tx.update

def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  state, update_fn = optimizer_state
  opt_state, params, model_state, _ = _train_step(
      workload, update_fn, state['opt'], current_param_container, model_state, batch, rng)
  # Dispatched asynchronously: returns at once, the device works on after.
  return ({'opt': opt_state, 'heavy': _heavy(state['heavy'])}, update_fn), params, model_state
"""


def test_async_heavy_work_is_billed_to_the_submission(tmp_path):
  sub = _write_submission(tmp_path, HEAVY)
  mod = submission.load_submission(sub).module
  x = jnp.eye(mod._N) * 0.01
  mod._heavy(x).block_until_ready()  # compile
  clock = SubmissionClock()
  clock.start()
  clock.stop(mod._heavy(x))
  heavy_sec = clock.accumulated
  # Without the sync the same call is billed only its dispatch: this is the bug it avoids.
  unsynced = SubmissionClock()
  unsynced.start()
  pending = mod._heavy(x)
  unsynced.stop()
  pending.block_until_ready()
  assert unsynced.accumulated < 0.5 * heavy_sec

  steps = 8
  workload = toy_workload.ToyRegressionWorkload(
      validation_target=UNREACHABLE, test_target=UNREACHABLE, eval_period_sec=1e9)
  result = runner.run_trial(_config(workload, sub, max_global_steps=steps))
  assert [s for s, _ in result.eval_results] == [1, steps]
  # Steps 2..8 each queued `heavy_sec` of work; it shows up as submission time ...
  assert result.submission_time >= 0.7 * (steps - 1) * heavy_sec
  # ... and not as eval time (two evals of a tiny model).
  assert result.eval_time < 0.5 * (steps - 1) * heavy_sec


def test_budget_stops_the_run_and_is_checked_every_step():
  workload = toy_workload.ToyRegressionWorkload(
      validation_target=UNREACHABLE, test_target=UNREACHABLE, budget_sec=3.0,
      eval_period_sec=1e9)
  result = runner.run_trial(_config(workload))
  assert result.status == runner.BUDGET_EXHAUSTED
  assert result.submission_time >= 3.0
  assert result.global_step > 1
  # Only the first-step and final evals: the budget was caught between evals.
  assert [s for s, _ in result.eval_results] == [1, result.global_step]


def test_stops_when_both_targets_are_reached():
  workload = toy_workload.ToyRegressionWorkload(validation_target=0.05, test_target=0.05,
                                                eval_period_sec=0.01)
  result = runner.run_trial(_config(workload))
  assert result.status == runner.TARGETS_REACHED
  last = result.eval_results[-1][1]
  assert last['validation/loss'] <= 0.05 and last['test/loss'] <= 0.05
  assert result.time_to_validation_target is not None
  assert result.time_to_validation_target <= result.submission_time
  earlier = [r for _, r in result.eval_results[:-1]]
  assert not any(r['validation/loss'] <= 0.05 and r['test/loss'] <= 0.05 for r in earlier)


def test_training_complete_error_ends_with_a_final_eval(tmp_path):
  sub = _write_submission(tmp_path, """
_original_update = update_params

def update_params(*args, **kwargs):
  if kwargs['global_step'] == 4:
    raise spec.TrainingCompleteError()
  return _original_update(*args, **kwargs)
""")
  workload = toy_workload.ToyRegressionWorkload(validation_target=UNREACHABLE,
                                                test_target=UNREACHABLE)
  result = runner.run_trial(_config(workload, sub))
  assert result.status == runner.TRAINING_COMPLETE
  assert result.global_step == 5
  assert result.eval_results[-1][0] == 5


def test_max_global_steps_and_first_eval_after_step_one(tmp_path):
  workload = toy_workload.ToyRegressionWorkload(validation_target=UNREACHABLE,
                                                test_target=UNREACHABLE, eval_period_sec=1e9)
  result = runner.run_trial(_config(workload, log_dir=tmp_path / 't', max_global_steps=17))
  assert result.status == runner.MAX_STEPS
  assert result.global_step == 17
  rows = pd.read_csv(tmp_path / 't' / 'eval_measurements.csv')
  assert rows['global_step'].tolist() == [1, 17]


def test_prepare_for_eval_params_are_evaluated(tmp_path):
  sub = _write_submission(tmp_path, """
def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step,
                     rng):
  zeros = jax.tree.map(jnp.zeros_like, current_param_container)
  return optimizer_state, zeros, model_state

import jax.numpy as jnp
""")
  workload = toy_workload.ToyRegressionWorkload(validation_target=UNREACHABLE,
                                                test_target=UNREACHABLE)
  result = runner.run_trial(_config(workload, sub, max_global_steps=10))
  # A zero model predicts 0: its loss is the mean squared target.
  expected = float(np.mean(workload._splits['validation']['targets'] ** 2))
  for _, row in result.eval_results:
    assert row['validation/loss'] == pytest.approx(expected, rel=1e-5)


def test_step_keys_equal_per_step_fold_in():
  trial_key = jax.random.PRNGKey(7)
  keys = runner.StepKeys(trial_key, block=4)
  for step in [0, 3, 4, 9, 2]:
    expected = jax.random.split(jax.random.fold_in(trial_key, step), 3)
    np.testing.assert_array_equal(keys(step), np.asarray(expected))


def test_same_seed_same_curve_and_other_seed_differs():
  def curve(seed):
    workload = toy_workload.ToyRegressionWorkload(
        validation_target=UNREACHABLE, test_target=UNREACHABLE, eval_period_sec=1e9)
    result = runner.run_trial(_config(workload, seed=seed, max_global_steps=30))
    return [r['validation/loss'] for _, r in result.eval_results], result.params

  (a, pa), (b, pb), (c, _) = curve(3), curve(3), curve(4)
  assert a == b
  jax.tree.map(np.testing.assert_array_equal, pa, pb)
  assert a != c


def test_diverged_params_end_the_trial_not_the_process(tmp_path):
  sub = _write_submission(tmp_path, """
_original_update = update_params

def update_params(*args, **kwargs):
  opt, params, state = _original_update(*args, **kwargs)
  return opt, jax.tree.map(lambda x: x * jnp.nan, params), state

import jax.numpy as jnp
""")
  workload = toy_workload.ToyRegressionWorkload()
  result = runner.run_trial(_config(workload, sub, log_dir=tmp_path / 't'))
  assert result.status == runner.DIVERGED
  assert result.global_step == 1
  assert (tmp_path / 't' / 'trial_summary.json').exists()
