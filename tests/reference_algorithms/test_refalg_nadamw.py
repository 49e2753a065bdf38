"""NAdamW baseline and the shared pieces under it: schedule, train step, logging, API."""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import refalg_testlib as lib  # noqa: E402

from reference_algorithms.common import schedules, submission_lib  # noqa: E402


def test_nadamw_trains_toy_workload():
  workload = lib.ToyRegressionWorkload(step_hint=300)
  before = lib.initial_validation_loss(workload)
  hp = lib.adam_like(learning_rate=0.05, weight_decay=1e-3, label_smoothing=0.0,
                     dropout_rate=0.0)
  _, params, model_state = lib.run_trial(lib.load('nadamw'), workload, hp, num_steps=300)
  after = lib.validation_loss(workload, params, model_state)
  assert before > 2.0
  # Noise floor of the toy data is 0.01 (noise std 0.1).
  assert after < 0.03
  assert after < before / 100


def test_schedule_matches_hand_computed_values():
  schedule = schedules.warmup_cosine(peak_value=0.1, warmup_factor=0.1, step_hint=100)
  # 10 warmup steps, then a cosine over the remaining 90 steps.
  expected = {
      0: 0.0,
      5: 0.05,                                    # warmup midpoint
      10: 0.1,                                    # warmup end = peak
      40: 0.1 * 0.5 * (1 + math.cos(math.pi / 3)),  # one third into the decay: 0.075
      55: 0.05,                                   # decay midpoint
      100: 0.0,                                   # end of step hint
      150: 0.0,                                   # stays at zero afterwards
  }
  for step, value in expected.items():
    assert float(schedule(step)) == pytest.approx(value, abs=1e-7), step


def test_schedule_without_warmup_starts_at_peak():
  schedule = schedules.warmup_cosine(peak_value=0.3, warmup_factor=0.0, step_hint=50)
  assert float(schedule(0)) == pytest.approx(0.3)
  assert float(schedule(25)) == pytest.approx(0.15, abs=1e-7)
  full_warmup = schedules.warmup_cosine(peak_value=0.3, warmup_factor=1.0, step_hint=50)
  assert float(full_warmup(50)) == pytest.approx(0.3)


def test_train_step_compiles_once_over_many_steps():
  workload = lib.RecordingToy(step_hint=100)
  lib.run_trial(lib.load('nadamw'), workload, lib.adam_like(), num_steps=60)
  assert workload.train_traces == 1


def test_label_smoothing_and_dropout_reach_the_workload():
  workload = lib.RecordingToy(step_hint=100)
  hp = lib.adam_like(label_smoothing=0.2, dropout_rate=0.1)
  lib.run_trial(lib.load('nadamw'), workload, hp, num_steps=3)
  assert workload.label_smoothings == [0.2]
  assert workload.dropout_rates == [0.1]


def test_search_space_without_optional_knobs_uses_defaults():
  workload = lib.RecordingToy(step_hint=100)
  lib.run_trial(lib.load('nadamw'), workload, lib.adam_like(), num_steps=2)
  assert workload.label_smoothings == [0.0]
  assert workload.dropout_rates == [None]


def test_gradient_clipping_bounds_the_update():
  # SGD with lr 1 and no warmup: the step is exactly the (clipped) gradient.
  workload = lib.ToyRegressionWorkload(step_hint=10_000)
  clip = 1e-3
  sgd = lib.load('sgd')
  start, _ = workload.init_model_fn(jax.random.split(jax.random.key(0), 4)[0])
  start = jax.tree.map(np.asarray, start)
  moves = {}
  for grad_clip in (None, clip):
    hp = lib.hparams(learning_rate=1.0, warmup_factor=0.0, grad_clip=grad_clip)
    _, params, _ = lib.run_trial(sgd, workload, hp, num_steps=1)
    delta = jax.tree.map(lambda a, b: np.asarray(a) - b, params, start)
    moves[grad_clip] = float(np.sqrt(sum(np.sum(d**2) for d in jax.tree.leaves(delta))))
  assert moves[None] > 100 * clip  # the raw gradient is far above the threshold
  assert moves[clip] == pytest.approx(clip, rel=1e-4)


def test_metrics_logged_every_n_steps_as_floats():
  workload = lib.ToyRegressionWorkload(step_hint=300)
  logger = lib.ListLogger()
  workload.attach_metrics_logger(logger)
  lib.run_trial(lib.load('nadamw'), workload, lib.adam_like(), num_steps=201)
  every = submission_lib.LOG_EVERY_STEPS
  assert [step for step, _ in logger.rows] == [0, every, 2 * every]
  first, last = logger.rows[0][1], logger.rows[-1][1]
  assert set(first) == {'loss', 'grad_norm'}
  assert all(type(v) is float for _, row in logger.rows for v in row.values())
  assert first['loss'] > 1.0 and first['grad_norm'] > 1.0
  assert last['loss'] < first['loss'] / 10


def test_self_tuning_variant_runs_with_none_hyperparameters():
  workload = lib.RecordingToy(step_hint=300)
  before = lib.initial_validation_loss(workload)
  _, params, model_state = lib.run_trial(lib.load('nadamw_self_tuning'), workload, None,
                                         num_steps=300)
  after = lib.validation_loss(workload, params, model_state)
  # The fixed learning rate (1.7e-3) is meant for large workloads: progress is slow here.
  assert after < 0.6 * before
  assert workload.dropout_rates == [0.1]  # the fixed self-tuning dropout rate


def test_external_variant_rejects_none_hyperparameters():
  workload = lib.ToyRegressionWorkload()
  with pytest.raises(ValueError, match='self_tuning'):
    lib.run_trial(lib.load('nadamw'), workload, None, num_steps=1)


def test_missing_hyperparameter_is_named():
  workload = lib.ToyRegressionWorkload()
  hp = lib.hparams(learning_rate=0.01, warmup_factor=0.0, one_minus_beta1=0.1)
  with pytest.raises(AttributeError, match="'beta2'"):
    lib.run_trial(lib.load('nadamw'), workload, hp, num_steps=1)


def test_prepare_for_eval_returns_training_params():
  workload = lib.ToyRegressionWorkload()
  sub = lib.load('nadamw')
  opt_state, params, model_state = lib.run_trial(sub, workload, lib.adam_like(), num_steps=2)
  out_state, eval_params, out_model_state = sub.prepare_for_eval(
      workload, params, workload.model_params_types, model_state, lib.adam_like(),
      workload.loss_type, opt_state, [], 2, jax.random.key(1))
  assert eval_params is params and out_state is opt_state and out_model_state is model_state


def test_get_batch_size():
  sub = lib.load('nadamw')
  assert [sub.get_batch_size(n) for n in ('mnist1d', 'mnist', 'fashion_mnist', 'cifar')] == [
      128, 128, 128, 128]
  with pytest.raises(ValueError, match='imagenet'):
    sub.get_batch_size('imagenet')
