"""AdamW, LAMB, Adafactor, SAM, Schedule-Free AdamW and Shampoo train the toy workload."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
import refalg_testlib as lib  # noqa: E402

STEPS = 150
HP = {
    'adamw': lib.adam_like(weight_decay=1e-3),
    'lamb': lib.adam_like(learning_rate=0.1, weight_decay=1e-3),  # steps scale with |θ|
    'adafactor': lib.hparams(learning_rate=0.05, one_minus_beta1=0.1, warmup_factor=0.05,
                             weight_decay=1e-3),
    'sam': lib.adam_like(weight_decay=1e-3, rho=0.02),
    'schedule_free_adamw': lib.adam_like(learning_rate=0.02, weight_decay=1e-3),
    'shampoo': lib.adam_like(weight_decay=1e-3),
}


@pytest.mark.parametrize('name', sorted(HP))
def test_trains_toy_workload(name):
  workload = lib.ToyRegressionWorkload(step_hint=STEPS)
  before = lib.initial_validation_loss(workload)
  sub = lib.load(name)
  opt_state, params, model_state = lib.run_trial(sub, workload, HP[name], num_steps=STEPS)
  _, eval_params, _ = sub.prepare_for_eval(
      workload, params, workload.model_params_types, model_state, HP[name],
      workload.loss_type, opt_state, [], STEPS, jax.random.key(0))
  after = lib.validation_loss(workload, eval_params, model_state)
  assert after < before / 20, (before, after)


def test_schedule_free_evaluates_the_averaged_point():
  workload = lib.ToyRegressionWorkload(step_hint=50)
  sub = lib.load('schedule_free_adamw')
  hp = HP['schedule_free_adamw']
  opt_state, params, model_state = lib.run_trial(sub, workload, hp, num_steps=30)
  sf_state = opt_state[0]
  assert isinstance(sf_state, optax.contrib.ScheduleFreeState)
  new_state, eval_params, _ = sub.prepare_for_eval(
      workload, params, workload.model_params_types, model_state, hp, workload.loss_type,
      opt_state, [], 30, jax.random.key(0))
  assert new_state is opt_state
  b1 = float(sf_state.b1)
  for y, z, x in zip(jax.tree.leaves(params), jax.tree.leaves(sf_state.z),
                     jax.tree.leaves(eval_params), strict=True):
    y, z, x = np.asarray(y), np.asarray(z), np.asarray(x)
    np.testing.assert_allclose(x, (y - (1 - b1) * z) / b1, rtol=1e-5, atol=1e-6)
  pairs = zip(jax.tree.leaves(params), jax.tree.leaves(eval_params), strict=True)
  diff = max(np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in pairs)
  assert diff > 1e-4  # x and y are different points
  # Training continues from y: params are not replaced by x.
  opt_state, params2, _ = lib.run_trial(sub, workload, hp, num_steps=30)
  np.testing.assert_allclose(jax.tree.leaves(params2)[0], jax.tree.leaves(params)[0])


def test_schedule_free_without_warmup_trains():
  """warmup_steps=0 means no warmup (Optax's 0-step warmup schedule would stay at 0)."""
  workload = lib.ToyRegressionWorkload(step_hint=100)
  sub = lib.load('schedule_free_adamw')
  initial, _ = workload.init_model_fn(jax.random.split(jax.random.key(0), 4)[0])
  _, params, _ = lib.run_trial(sub, workload, lib.hparams(
      **HP['schedule_free_adamw']._asdict(), warmup_steps=0), num_steps=1)
  moved = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
              for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(initial), strict=True))
  assert moved > 1e-4


def test_schedule_free_self_tuning_runs_with_none_hyperparameters():
  workload = lib.ToyRegressionWorkload(step_hint=300)
  before = lib.initial_validation_loss(workload)
  sub = lib.load('schedule_free_adamw_self_tuning')
  opt_state, params, model_state = lib.run_trial(sub, workload, None, num_steps=300)
  _, eval_params, _ = sub.prepare_for_eval(
      workload, params, workload.model_params_types, model_state, None, workload.loss_type,
      opt_state, [], 300, jax.random.key(0))
  # The fixed learning rate (2.5e-3) is meant for large workloads: progress is slow here.
  assert lib.validation_loss(workload, eval_params, model_state) < 0.5 * before


def test_sam_steps_with_the_gradient_at_the_perturbed_point():
  # Same start and batches: SAM's AdamW sees gradients taken at params + ρ·g/|g|, so
  # its trajectory departs from plain AdamW's (Adam's first step is sign-like and
  # equal for both; later steps are not).
  workload = lib.RecordingToy(step_hint=20)
  hp = lib.adam_like(warmup_factor=0.0, weight_decay=0.0, rho=0.5)
  opt_state, sam_params, _ = lib.run_trial(lib.load('sam'), workload, hp, num_steps=5)
  _, adamw_params, _ = lib.run_trial(lib.load('adamw'), workload, hp, num_steps=5)
  assert isinstance(opt_state[0], optax.contrib.SAMState)
  assert workload.train_traces == 3  # 2 for SAM (value_and_grad + oracle), 1 for AdamW
  diff = np.abs(np.asarray(sam_params['dense']['kernel'])
                - np.asarray(adamw_params['dense']['kernel'])).max()
  assert diff > 1e-4
