"""SWA, FGE and snapshot ensembles: averaging and snapshot math against NumPy, the cyclic
schedules at known steps, SWA's batch-norm recompute, training that evals do not disturb
(the eval-point fix, schedule-free included), checkpoints, donation and the errors."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import refalg_testlib as lib  # noqa: E402

from algoperf import checkpoint, runner, spec  # noqa: E402
from algoperf import submission as submission_loader  # noqa: E402
from reference_algorithms.common import (  # noqa: E402
  averaging,
  batch_norm,
  cyclic,
  eval_plans,
  eval_point,
  train_step,
)
from workloads import registry  # noqa: E402
from workloads.mnist1d_cnn import models as mnist1d_cnn_models  # noqa: E402

NADAMW = dict(learning_rate=0.05, one_minus_beta1=0.1, beta2=0.99, warmup_factor=0.0,
              weight_decay=0.0)
KNOBS = {
    'swa': dict(swa_start_fraction=0.5, swa_lr_ratio=0.2, swa_cycle_fraction=0.1,
                swa_cycle_lr_factor=1.0),
    'fge': dict(ensemble_size=2, fge_cycle_fraction=0.2, fge_lr1_ratio=0.2,
                fge_lr2_ratio=0.002),
    'snapshot_ensemble': dict(ensemble_size=2),
    # optax's schedule-free with warmup_steps=0 keeps a rate of 0 (warmup_constant_schedule).
    'schedule_free_adamw': dict(warmup_factor=0.25),
}


def _hp(name, **overrides):
  return lib.hparams(**{**NADAMW, **KNOBS[name], **overrides})


def _rates(schedule, steps):
  return np.array([float(schedule(step)) for step in steps])


# --- the running average and the snapshot ring against NumPy --------------------------

def _points(count, seed=0):
  rng = np.random.default_rng(seed)
  return [{'w': rng.normal(size=(3, 2)).astype(np.float32),
           'b': rng.normal(size=(2,)).astype(np.float32)} for _ in range(count)]


def test_running_average_is_the_numpy_mean_of_the_harvested_points():
  cycles = cyclic.Cycles(start=2, length=3, harvest_offset=2)
  tracker = averaging.running_average(cycles.is_harvest)
  points = _points(12)
  state = tracker.init(points[0], None)
  update = jax.jit(tracker.update)
  for point in points:
    state = update(state, point, None)
  harvested = [points[i] for i in (4, 7, 10)]
  assert int(state.count) == 3 == cycles.harvests_before(12)
  assert int(state.step) == 12
  for key in ('w', 'b'):
    np.testing.assert_allclose(np.asarray(state.mean[key]),
                               np.mean([p[key] for p in harvested], axis=0), rtol=1e-6)


def test_snapshot_ring_keeps_the_last_members_oldest_first():
  tracker = averaging.snapshot_ring(3, lambda step: step % 2 == 1)  # steps 1, 3, 5, ...
  point = lambda i: {'w': jnp.full((2,), float(i))}  # noqa: E731
  state = tracker.init(point(0), {'s': jnp.zeros(())})
  update = jax.jit(tracker.update)
  assert averaging.snapshot_ensemble(state, 3) is None  # no snapshot yet
  seen = []
  for step in range(10):
    state = update(state, point(step), {'s': jnp.asarray(10.0 * step)})
    ensemble = averaging.snapshot_ensemble(state, 3)
    seen.append(None if ensemble is None else np.asarray(ensemble.params['w'][:, 0]).tolist())
  assert seen[0] is None and seen[1] == [1.0] and seen[3] == [1.0, 3.0]
  assert seen[9] == [5.0, 7.0, 9.0]
  assert int(state.count) == 5
  np.testing.assert_array_equal(np.asarray(ensemble.model_state['s']), [50.0, 70.0, 90.0])
  np.testing.assert_array_equal(averaging.member_slots(5, 3), [2, 0, 1])


# --- cyclic schedules at known steps --------------------------------------------------

def test_cycles_count_their_harvests():
  for start, length, offset in [(0, 1, 0), (3, 4, 2), (5, 2, 1), (0, 7, 6)]:
    cycles = cyclic.Cycles(start, length, offset)
    for end in range(30):
      assert cycles.harvests_before(end) == sum(bool(cycles.is_harvest(i)) for i in range(end))


def test_triangle_after_a_warm_start():
  cycles = cyclic.Cycles(start=10, length=6, harvest_offset=3)
  schedule = cyclic.after_warm_start(optax.constant_schedule(-1.0), cycles,
                                     cyclic.triangle(1.0, 0.01, 6))
  rates = _rates(schedule, range(30))
  assert rates[9] == -1.0
  for cycle_start in (10, 16, 22):
    np.testing.assert_allclose(rates[cycle_start:cycle_start + 7],
                               [1.0, 0.67, 0.34, 0.01, 0.34, 0.67, 1.0], rtol=1e-5)
  assert [i for i in range(30) if cycles.is_harvest(i)] == [13, 19, 25]
  assert rates[[13, 19, 25]].tolist() == pytest.approx([0.01] * 3)


def test_sawtooth_falls_to_its_low_at_each_cycle_end():
  np.testing.assert_allclose(_rates(cyclic.periodic(cyclic.sawtooth(0.5, 0.1, 5), 5), range(10)),
                             [0.5, 0.4, 0.3, 0.2, 0.1] * 2, rtol=1e-6)
  assert _rates(cyclic.sawtooth(0.5, 0.5, 5), range(5)).tolist() == [0.5] * 5
  assert _rates(cyclic.sawtooth(0.5, 0.1, 1), range(3)).tolist() == pytest.approx([0.1] * 3)


def test_cosine_restarts_are_sgdr_with_equal_cycles_and_go_on_past_them():
  peak, length, warmup = 0.1, 8, 2
  first = dict(init_value=0.0, peak_value=peak, warmup_steps=warmup, decay_steps=length)
  later = dict(init_value=peak, peak_value=peak, warmup_steps=0, decay_steps=length)
  sgdr = optax.sgdr_schedule([first, later, later])
  ours = cyclic.cosine_restarts(peak, length, warmup)
  np.testing.assert_allclose(_rates(ours, range(24)), _rates(sgdr, range(24)), atol=1e-7)
  np.testing.assert_allclose(_rates(ours, range(24, 40)), _rates(ours, range(8, 24)),
                             atol=1e-7)
  assert float(ours(0)) == 0.0 and float(ours(8)) == pytest.approx(peak)


def test_fge_rates_and_snapshots_fill_the_end_of_the_step_hint():
  from reference_algorithms.fge import submission as fge
  hp = _hp('fge', ensemble_size=3, fge_cycle_fraction=0.1, warmup_factor=0.05,
           learning_rate=0.01)
  cycles = fge.fge_cycles(hp, 100)
  assert (cycles.start, cycles.length, cycles.harvest_offset) == (70, 10, 5)
  rates = _rates(fge.learning_rate(hp, 100), range(110))
  assert rates[0] == 0.0 and rates[5] == pytest.approx(0.01)  # warmup, then the peak
  assert rates[[70, 80, 90, 100]].tolist() == pytest.approx([0.002] * 4, rel=1e-5)  # α₁
  assert rates[[75, 85, 95, 105]].tolist() == pytest.approx([2e-5] * 4, rel=1e-5)  # α₂: snapshots
  assert [i for i in range(100) if cycles.is_harvest(i)] == [75, 85, 95]


def test_swa_rate_is_constant_or_cyclic_from_its_start():
  from reference_algorithms.swa import submission as swa
  constant = _hp('swa', swa_start_fraction=0.75, swa_lr_ratio=0.2, swa_cycle_fraction=0.04,
                 learning_rate=0.01, warmup_factor=0.05)
  rates = _rates(swa.learning_rate(constant, 100), range(100))
  assert rates[0] == 0.0 and rates[5] == pytest.approx(0.01)
  assert rates[75:].tolist() == pytest.approx([0.002] * 25)
  assert np.all(np.diff(rates[5:76]) <= 1e-9)  # the cosine ends at the SWA rate
  cycles = swa.averaging_cycles(constant, 100)
  assert [i for i in range(100) if cycles.is_harvest(i)] == list(range(78, 100, 4))
  cyclic_hp = _hp('swa', swa_start_fraction=0.5, swa_lr_ratio=0.1, swa_cycle_fraction=0.05,
                  swa_cycle_lr_factor=5.0, learning_rate=0.01)
  rates = _rates(swa.learning_rate(cyclic_hp, 100), range(60))
  np.testing.assert_allclose(rates[50:60], [0.005, 0.004, 0.003, 0.002, 0.001] * 2, rtol=1e-5)


def test_snapshot_ensemble_cycles_split_the_step_hint():
  from reference_algorithms.snapshot_ensemble import submission as snapshots
  hp = _hp('snapshot_ensemble', ensemble_size=4, learning_rate=0.01, warmup_factor=0.02)
  cycles = snapshots.snapshot_cycles(hp, 100)
  assert [i for i in range(100) if cycles.is_harvest(i)] == [24, 49, 74, 99]
  rates = _rates(snapshots.learning_rate(hp, 100), range(100))
  assert rates[0] == 0.0 and rates[[2, 25, 50, 75]].tolist() == pytest.approx([0.01] * 4)
  assert rates[[24, 49, 74, 99]].max() < 1e-4


# --- SWA's batch-norm recompute on mnist1d_cnn_batchnorm ----------------------------------

def _batches(count, size=16, seed=0):
  rng = np.random.default_rng(seed)
  return tuple({'inputs': jnp.asarray(rng.normal(size=(size, 40)).astype(np.float32)),
                'targets': jnp.asarray(rng.integers(0, 10, size=size).astype(np.int32))}
               for _ in range(count))


@jax.jit
def _conv_outputs(params, model_state, inputs):
  """The conv layers' outputs (batch norm's inputs) of mnist1d_cnn_batchnorm's flax module
  in training mode, captured by flax, not through the workload."""
  model = mnist1d_cnn_models.make_model(batch_norm=True)
  _, captured = model.apply({'params': params, **model_state}, inputs, train=True,
                            mutable=['batch_stats', 'intermediates'],
                            capture_intermediates=lambda mdl, _: isinstance(mdl, nn.Conv))
  return [captured['intermediates'][f'Conv_{index}']['__call__'][0]
          for index in range(len(mnist1d_cnn_models.CONV_FEATURES))]


def _direct_batch_statistics(params, model_state, batches):
  """Per-layer mean over batches of the pre-batch-norm activations' mean and (biased)
  variance, in float64 NumPy."""
  per_layer = {}
  for batch in batches:
    for index, out in enumerate(_conv_outputs(params, model_state, batch['inputs'])):
      out = np.asarray(out, np.float64)
      layer = per_layer.setdefault(f'BatchNorm_{index}', {'mean': [], 'var': []})
      layer['mean'].append(out.mean(axis=(0, 1)))
      layer['var'].append(out.var(axis=(0, 1)))
  return {name: {k: np.mean(v, axis=0) for k, v in stats.items()}
          for name, stats in per_layer.items()}


def _assert_statistics(model_state, expected):
  for name, stats in expected.items():
    for key, value in stats.items():
      np.testing.assert_allclose(np.asarray(model_state['batch_stats'][name][key]), value,
                                 rtol=2e-4, atol=1e-5, err_msg=f'{name}/{key}')


class _EmaWorkload:
  """model_fn's state: an EMA (momentum 0.7) of the batch mean, a step counter and a float
  leaf the model never updates."""

  def model_fn(self, params, batch, model_state, mode, rng, update_batch_norm):
    del mode, rng, update_batch_norm
    batch_mean = jnp.mean(batch['inputs'] * params['scale'], axis=0)
    return None, {'ema': 0.7 * model_state['ema'] + 0.3 * batch_mean,
                  'steps': model_state['steps'] + 1, 'fixed': model_state['fixed']}


def test_recompute_reads_the_momentum_and_keeps_what_is_no_running_average():
  batches = _batches(4)
  params = {'scale': jnp.float32(2.0)}
  state = {'ema': jnp.full((40,), 5.0), 'steps': jnp.int32(7), 'fixed': jnp.float32(3.0)}
  recomputed = batch_norm.build_recompute(_EmaWorkload())(params, state, batches, None)
  expected = np.mean([2.0 * np.asarray(b['inputs'], np.float64).mean(axis=0) for b in batches],
                     axis=0)
  np.testing.assert_allclose(np.asarray(recomputed['ema']), expected, rtol=1e-4, atol=1e-6)
  assert int(recomputed['steps']) == 7 and float(recomputed['fixed']) == 3.0


def test_recent_batches_keep_the_last_ones_newest_last():
  recent = batch_norm.RecentBatches(2)
  for i in range(5):
    recent = recent.push(i)
  assert recent.batches == (3, 4)
  assert batch_norm.RecentBatches(0).push(1).batches == ()


def test_swa_evaluates_the_average_with_statistics_recomputed_on_seen_batches():
  from reference_algorithms.swa import submission as swa
  workload = registry.get_workload('mnist1d_cnn_batchnorm')
  workload.STEP_HINT = 6  # averages the params after steps 3, 4 and 5
  hp = _hp('swa', swa_start_fraction=0.5, swa_cycle_fraction=0.1, learning_rate=0.01)
  params, model_state = workload.init_model_fn(jax.random.key(0))
  state = swa.init_optimizer_state(workload, params, model_state, hp, jax.random.key(1))
  batches, trajectory = _batches(6, seed=1), []
  for step, batch in enumerate(batches):
    state, params, model_state = swa.update_params(
        workload, params, None, model_state, hp, batch, workload.loss_type, state, [], step,
        jax.random.key(step))
    trajectory.append(jax.tree.map(np.asarray, params))
  assert eval_plans.BN_RECOMPUTE_BATCHES >= len(batches)
  _, averaged, averaged_state = swa.prepare_for_eval(
      workload, params, None, model_state, hp, workload.loss_type, state, [], 6,
      jax.random.key(9))
  expected = jax.tree.map(lambda *xs: np.mean(xs, axis=0), *trajectory[3:])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               jax.tree.map(np.asarray, averaged), expected)
  # Every batch seen, under the averaged weights; none of the training point's running
  # statistics (an EMA over the same batches under other weights) leaks in.
  _assert_statistics(averaged_state, _direct_batch_statistics(averaged, model_state, batches))
  assert state.training.model_state is model_state


# --- training goes on from the training point, whatever was evaluated -------------------

def _run(name, workload, hp, steps, eval_after=()):
  """The runner's call sequence: an eval's params and model state replace the training
  ones (AlgoPerf's rule), ensembles aside. Returns the last update's state and outputs."""
  submission = lib.load(name)
  params, model_state = workload.init_model_fn(jax.random.key(0))
  state = submission.init_optimizer_state(workload, params, model_state, hp, jax.random.key(1))
  queue = workload._build_input_queue(jax.random.key(2), 'train', None, 16)
  for step in range(steps):
    state, params, model_state = submission.update_params(
        workload, params, None, model_state, hp, next(queue), workload.loss_type, state, [],
        step, jax.random.key(step))
    if step + 1 in eval_after:
      state, evaluated, eval_state = submission.prepare_for_eval(
          workload, params, None, model_state, hp, workload.loss_type, state, [], step + 1,
          jax.random.key(99))
      if not isinstance(evaluated, spec.Ensemble):
        params, model_state = evaluated, eval_state
  return state, params, model_state


@pytest.mark.parametrize('name', ['schedule_free_adamw', 'swa'])
def test_training_trajectory_does_not_depend_on_evals(name):
  workload = lib.ToyRegressionWorkload(step_hint=12)
  hp = _hp(name)
  _, straight, _ = _run(name, workload, hp, 12)
  state, interrupted, _ = _run(name, workload, hp, 12, eval_after=(4, 8))
  jax.tree.map(np.testing.assert_array_equal, straight, interrupted)
  # The evaluated point differs from the training point, so the evals could have mattered.
  _, evaluated, _ = lib.load(name).prepare_for_eval(
      workload, interrupted, None, None, hp, workload.loss_type, state, [], 12, None)
  assert not np.allclose(np.asarray(evaluated['dense']['kernel']),
                         np.asarray(interrupted['dense']['kernel']))


def test_algorithms_that_evaluate_their_training_point_keep_the_plain_state():
  workload = lib.ToyRegressionWorkload(step_hint=12)
  params, model_state = workload.init_model_fn(jax.random.key(0))
  state = lib.load('nadamw').init_optimizer_state(workload, params, model_state,
                                                  lib.adam_like(), jax.random.key(1))
  assert isinstance(state, tuple) and len(state) == 2
  assert isinstance(state[1], train_step.CompiledSteps) and state[1].evaluate is None


@pytest.mark.parametrize('name', ['swa', 'fge'])
def test_eval_outputs_survive_the_next_step_and_the_state_keeps_its_structure(name):
  workload = lib.ToyRegressionWorkload(step_hint=10)
  hp = _hp(name)
  submission = lib.load(name)
  params, model_state = workload.init_model_fn(jax.random.key(0))
  state = submission.init_optimizer_state(workload, params, model_state, hp, jax.random.key(1))
  structure = jax.tree.structure(state)
  state, params, model_state = _run(name, workload, hp, 8)
  state, evaluated, _ = submission.prepare_for_eval(
      workload, params, None, model_state, hp, workload.loss_type, state, [], 8, None)
  assert isinstance(evaluated, spec.Ensemble) == (name == 'fge')
  batch = next(workload._build_input_queue(jax.random.key(5), 'train', None, 16))
  state, _, _ = submission.update_params(workload, params, None, model_state, hp, batch,
                                         workload.loss_type, state, [], 8, jax.random.key(8))
  assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(evaluated))  # nothing donated
  assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(evaluated))
  assert jax.tree.structure(state) == structure


def test_checkpoint_restores_the_carried_point_and_the_snapshots(tmp_path):
  workload = lib.ToyRegressionWorkload(step_hint=10)
  hp = _hp('fge')
  submission = lib.load('fge')
  state, params, model_state = _run('fge', workload, hp, 10)
  assert int(state.tracked.count) == 2  # after steps 7 and 9
  checkpoint.save(str(tmp_path), checkpoint.TrialState(params, model_state, state, 10, 0, {},
                                                       []))
  fresh_params, fresh_model_state = workload.init_model_fn(jax.random.key(0))
  template = submission.init_optimizer_state(workload, fresh_params, fresh_model_state, hp,
                                             jax.random.key(1))
  restored = checkpoint.restore(str(tmp_path), checkpoint.TrialState(
      fresh_params, fresh_model_state, template, 0, 0, {}, [])).optimizer_state
  assert isinstance(restored, eval_point.CarryingState)
  for saved, back in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
    if isinstance(saved, jax.Array):
      np.testing.assert_array_equal(np.asarray(back), np.asarray(saved))


# --- what an ensemble of identical snapshots evaluates to ------------------------------

def test_identical_snapshots_evaluate_like_the_single_model():
  """At learning rate 0 every snapshot is the initial model: the ensemble's metrics are
  the single model's."""
  workload = registry.get_workload('noisy_quadratic')
  workload.STEP_HINT = 4
  hp = _hp('snapshot_ensemble', learning_rate=0.0)
  submission = lib.load('snapshot_ensemble')
  params, model_state = workload.init_model_fn(jax.random.key(0))
  single = workload.eval_model(1000, params, model_state, None, '', None, 0)
  state = submission.init_optimizer_state(workload, params, model_state, hp, jax.random.key(1))
  queue = workload._build_input_queue(jax.random.key(2), 'train', '', 32)
  for step in range(4):
    state, params, model_state = submission.update_params(
        workload, params, None, model_state, hp, next(queue), workload.loss_type, state, [],
        step, jax.random.key(step))
  _, ensemble, ensemble_state = submission.prepare_for_eval(
      workload, params, None, model_state, hp, workload.loss_type, state, [], 4, None)
  assert isinstance(ensemble, spec.Ensemble) and ensemble.num_members == 2
  together = workload.eval_model(1000, ensemble, ensemble_state, None, '', None, 4)
  assert together == pytest.approx(single, rel=1e-6)


# --- bad input: one clear error each ------------------------------------------------------

@pytest.mark.parametrize('name,overrides,message', [
    ('fge', dict(ensemble_size=11), 'ensemble_size=11 is more FGE cycles than fit'),
    ('fge', dict(ensemble_size=3, warmup_steps=9), 'after the 9-step warmup leave room for 2'),
    ('snapshot_ensemble', dict(ensemble_size=11), 'ensemble_size=11 is more cosine cycles'),
    ('snapshot_ensemble', dict(ensemble_size=5, warmup_steps=4), 'at most 4 fit'),
    ('snapshot_ensemble', dict(ensemble_size=0), 'ensemble_size must be an int >= 1'),
    ('fge', dict(ensemble_size=2.5), 'ensemble_size must be an int >= 1'),
    ('swa', dict(swa_start_fraction=1.0), 'swa_start_fraction=1.0 starts averaging'),
    ('swa', dict(swa_cycle_lr_factor=0.5), 'swa_cycle_lr_factor must be >= 1'),
    ('swa', dict(swa_cycle_fraction=0.0), 'swa_cycle_fraction must be in'),
])
def test_settings_that_do_not_fit_the_budget_raise_a_clear_error(name, overrides, message):
  workload = lib.ToyRegressionWorkload(step_hint=20)
  params, model_state = workload.init_model_fn(jax.random.key(0))
  with pytest.raises(ValueError, match=message):
    lib.load(name).init_optimizer_state(workload, params, model_state,
                                        _hp(name, **overrides), jax.random.key(1))


# --- end to end: the runner evaluates the ensemble and logs it ------------------------------

def _trial(tmp_path, hp, steps=6):
  workload = registry.get_workload('noisy_quadratic')
  workload.STEP_HINT = steps
  workload.EVAL_PERIOD_SEC = 1e9  # evals after the first and the last step only
  path = os.path.join(lib.REFERENCE_DIR, 'snapshot_ensemble', 'submission.py')
  return runner.TrialConfig(
      workload=workload, workload_name='noisy_quadratic',
      submission=submission_loader.load_submission(path), hyperparameters=hp, seed=0,
      global_batch_size=32, eval_batch_size=1000, budget_sec=600.0,
      log_dir=str(tmp_path / 'trial'), max_global_steps=steps, show_progress=False)


def test_runner_evaluates_the_snapshot_ensemble_and_logs_its_members(tmp_path):
  result = runner.run_trial(_trial(tmp_path, _hp('snapshot_ensemble', learning_rate=0.01)))
  assert result.status == runner.MAX_STEPS
  rows = pd.read_csv(tmp_path / 'trial' / 'eval_measurements.csv')
  assert rows['global_step'].tolist() == [1, 6]
  # Step 1: no snapshot yet, the single model; step 6: the snapshots after steps 2 and 5.
  assert pd.isna(rows['ensemble_members'].iloc[0]) and rows['ensemble_members'].iloc[1] == 2
  assert np.isfinite(rows['validation/loss']).all()


def test_runner_reports_too_many_cycles_as_the_submissions_error(tmp_path):
  with pytest.raises(submission_loader.SubmissionError,
                     match='init_optimizer_state.*ensemble_size=7 is more cosine cycles'):
    runner.run_trial(_trial(tmp_path, _hp('snapshot_ensemble', ensemble_size=7)))
