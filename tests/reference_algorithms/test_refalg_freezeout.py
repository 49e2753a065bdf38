"""FreezeOut: its schedule, per-group rates, the compiled steps that skip frozen layers'
gradients, bit-identical frozen params, and the error for a schedule that freezes a
group before step 1."""

import functools
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import refalg_testlib as lib  # noqa: E402

from algoperf import experiment, jax_sharding_utils, runner, spec  # noqa: E402
from reference_algorithms.common import freezing, train_step  # noqa: E402
from workloads.common.models import ConvNet  # noqa: E402

FREEZEOUT = os.path.join(lib.REFERENCE_DIR, 'freezeout', 'submission.py')


class TinyConvWorkload(lib.ToyRegressionWorkload):
  """The toy regression through a 1-D ConvNet: groups Conv_0, Conv_1, Dense_0 (the spec's
  natural-order default), so each freezing stage drops convolutions from the step."""

  model = ConvNet(conv_features=(4, 4), kernel_size=(3,), pool_size=None, dense_sizes=(),
                  num_classes=1)

  def is_output_params(self, param_key):
    return param_key == 'Dense_0'

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    # Shapes from Flax, values from NumPy: compiling Flax's init costs seconds per instance.
    del rng
    shapes = jax.eval_shape(self.model.init, jax.random.key(0), jnp.zeros((1, 8)))['params']
    noise = np.random.default_rng(0)
    params = jax.tree.map(lambda s: (0.5 * noise.normal(size=s.shape)).astype(np.float32),
                          shapes)
    self.set_param_shapes_and_types(params, jax.tree.map(lambda _: spec.ParameterType.WEIGHT,
                                                         params))
    return jax_sharding_utils.replicate(params), None

  def model_fn(self, params, augmented_and_preprocessed_input_batch, model_state, mode, rng,
               update_batch_norm, dropout_rate=None):
    inputs = augmented_and_preprocessed_input_batch['inputs']
    return self.model.apply({'params': params}, inputs), model_state


def point(**overrides):
  values = dict(learning_rate=0.05, one_minus_beta1=0.1, warmup_factor=0.0, weight_decay=1e-4,
                label_smoothing=0.0, dropout_rate=0.0, base_optimizer='nesterov', t_0=0.5,
                freeze_scaling='linear', scale_lr=True)
  values.update(overrides)
  return lib.hparams(**values)


def _init(workload, hp):
  params, model_state = workload.init_model_fn(jax.random.key(0))
  return params, model_state, lib.load('freezeout').init_optimizer_state(
      workload, params, model_state, hp, jax.random.key(1))


# --- the schedule ----------------------------------------------------------------------

@pytest.mark.parametrize('scaling,power', [('linear', 1), ('squared', 2), ('cubic', 3)])
def test_freeze_fractions_follow_the_paper(scaling, power):
  t_0, num_groups = 0.6, 5
  expected = [(t_0 + (1 - t_0) * i / (num_groups - 1)) ** power for i in range(num_groups)]
  assert freezing.freeze_fractions(num_groups, t_0, scaling) == pytest.approx(expected)
  assert freezing.freeze_fractions(num_groups, t_0, scaling)[-1] == 1.0  # the output trains on
  assert freezing.freeze_fractions(1, t_0, scaling) == [1.0]  # one group: the base optimizer


def test_stops_stages_and_frozen_prefix():
  schedule = freezing.build_schedule([['a'], ['b'], ['c'], ['d']], step_hint=100, t_0=0.5,
                                     scaling='linear')
  assert schedule.stops == (50, 66, 83, 100)  # ⌊t_i · step_hint⌋
  assert [schedule.num_frozen(s) for s in (0, 49, 50, 65, 66, 99, 100, 500)] == [
      0, 0, 1, 1, 2, 3, 4, 4]
  assert schedule.stages == (0, 1, 2, 3)
  tied = freezing.build_schedule([['a'], ['b'], ['c']], step_hint=2, t_0=0.6, scaling='linear')
  assert tied.stops == (1, 1, 2) and tied.stages == (0, 2)


@pytest.mark.parametrize('scale_lr', [True, False])
def test_each_group_has_its_own_cosine_to_zero_at_its_stop(scale_lr):
  schedule = freezing.build_schedule([['a'], ['b'], ['c']], step_hint=200, t_0=0.5,
                                     scaling='squared')
  peak = 0.1
  for i, (t_i, stop) in enumerate(zip(schedule.fractions, schedule.stops, strict=True)):
    rate = schedule.learning_rate(i, peak, warmup=0, scale_lr=scale_lr)
    start = peak / t_i if scale_lr else peak  # the paper's "scale lr": α_i(0) = α / t_i
    for step in (0, stop // 3, stop // 2, stop - 1):
      expected = 0.5 * start * (1 + math.cos(math.pi * step / stop))
      assert float(rate(step)) == pytest.approx(expected, abs=1e-6 * start), (i, step)
    assert float(rate(stop)) == 0.0
  warmed = schedule.learning_rate(0, peak, warmup=10, scale_lr=scale_lr)
  assert float(warmed(0)) == 0.0
  assert float(warmed(10)) == pytest.approx(peak / schedule.fractions[0] if scale_lr else peak)


def test_bad_knobs_and_groups_are_one_clear_error_each():
  with pytest.raises(ValueError, match='0 < t_0 <= 1'):
    freezing.freeze_fractions(3, 0.0, 'linear')
  with pytest.raises(ValueError, match="one of \\['cubic', 'linear', 'squared'\\]"):
    freezing.freeze_fractions(3, 0.5, 'quartic')
  with pytest.raises(ValueError, match=r"keys in more than one group: \['a'\]; parameters in "
                                       r"no group: \['c'\]"):
    freezing.check_groups([['a'], ['a', 'b']], ['a', 'b', 'c'])
  with pytest.raises(ValueError, match='base_optimizer must be one of'):
    _init(TinyConvWorkload(step_hint=20), point(base_optimizer='adam'))


def test_a_schedule_that_freezes_everything_before_step_1_is_a_value_error():
  with pytest.raises(ValueError, match='freezes layer groups before step 1') as info:
    _init(TinyConvWorkload(step_hint=1), point(t_0=0.5, freeze_scaling='cubic'))
  assert "['Conv_0'] at t=0.125" in str(info.value) and 'step_hint=1' in str(info.value)


def test_the_error_ends_its_trial_and_the_study_goes_on(tmp_path):
  """Trial 1 freezes Conv_0 before step 1 (one error naming the submission); trial 2 runs
  until every group is frozen, and the runner ends it as complete."""
  space = tmp_path / 'space.json'
  space.write_text('[' + ', '.join(
      '{"learning_rate": 0.02, "one_minus_beta1": 0.1, "warmup_factor": 0.0, '
      f'"weight_decay": 0.0, "t_0": {t_0}, "freeze_scaling": "cubic"}}'
      for t_0 in (0.1, 0.8)) + ']')
  config = experiment.ExperimentConfig(
      submission_path=FREEZEOUT, workload_name='toy', experiment_dir=str(tmp_path),
      experiment_name='freezeout', tuning_search_space=str(space), num_tuning_trials=2,
      rng_seed=0, max_global_steps=50, save_checkpoints=False, show_progress=False,
      isolate_trials=False)
  outcomes = experiment.run_experiment(
      config, functools.partial(TinyConvWorkload, step_hint=8, eval_period_sec=1e9), 'toy')
  first, second = outcomes
  assert first.error.startswith(f'{FREEZEOUT}: init_optimizer_state: raised ValueError')
  assert 'freezes layer groups before step 1' in first.error
  assert second.error is None
  assert second.summary['status'] == runner.TRAINING_COMPLETE
  assert second.summary['global_step'] == 9  # steps 0-7 train; step 8 finds all frozen


# --- the compiled steps ----------------------------------------------------------------

def _convolutions(jitted, *args) -> int:
  return jitted.lower(*args).compile().as_text().count(' convolution(')


def test_frozen_groups_leave_the_compiled_backward_pass():
  """Stage k's compiled step has the convolutions of a step that differentiates only the
  groups after the first k; none of a frozen conv's weight or input gradients remain."""
  workload = TinyConvWorkload(step_hint=30)
  params, model_state, (opt_states, steps) = _init(workload, point())
  batch = next(workload._build_input_queue(jax.random.key(2), 'train', None, 16))
  rng = jax.random.key(3)
  mean_loss = train_step.mean_loss_fn(workload, 0.0, 0.0)

  def reference(trained_keys):
    """Loss and grads w.r.t. `trained_keys` only, nothing else."""
    def grads(params):
      fixed = {k: v for k, v in params.items() if k not in trained_keys}
      return jax.value_and_grad(lambda t: mean_loss({**fixed, **t}, None, batch, rng)[0])(
          {k: params[k] for k in trained_keys})
    return jax.jit(grads)

  counts, expected = {}, {}
  for frozen in (0, 1, 2):
    stage = steps.stages[frozen].train
    counts[frozen] = _convolutions(stage, params, model_state, opt_states, batch, rng)
    trained = [key for group in steps.schedule.groups[frozen:] for key in group]
    expected[frozen] = _convolutions(reference(trained), params)
  # Unfrozen: 2 forward, 2 weight gradients, 1 input gradient into Conv_0's output.
  assert counts == expected == {0: 5, 1: 3, 2: 2}
  # Numerically the same gradients: the stage reports the norm of the reference's.
  stage_1 = jax.jit(steps.stages[1].train.__wrapped__)  # the same step, without donation
  loss, grad_norm = stage_1(params, model_state, opt_states, batch, rng)[3:]
  ref_loss, ref_grads = reference(['Conv_1', 'Dense_0'])(params)
  assert float(loss) == pytest.approx(float(ref_loss), rel=1e-6)
  ref_norm = math.sqrt(sum(float(jnp.sum(g**2)) for g in jax.tree.leaves(ref_grads)))
  assert float(grad_norm) == pytest.approx(ref_norm, rel=1e-5)


def test_frozen_params_and_states_stay_bit_identical_after_their_stop():
  workload = TinyConvWorkload(step_hint=12)  # linear t_0=0.5: stops 6, 9, 12
  hp = point(learning_rate=0.02)
  freezeout = lib.load('freezeout')
  params, model_state, optimizer_state = _init(workload, hp)
  assert optimizer_state[1].schedule.stops == (6, 9, 12)
  queue = workload._build_input_queue(jax.random.key(2), 'train', None, 16)
  history = []  # (params, group states) before each step, as host copies
  for step in range(12):
    history.append(jax.tree.map(lambda x: np.array(x, copy=True),
                                (params, optimizer_state[0])))
    optimizer_state, params, model_state = freezeout.update_params(
        workload, params, workload.model_params_types, model_state, hp, next(queue),
        workload.loss_type, optimizer_state, [], step, jax.random.key(step))
  history.append(jax.tree.map(lambda x: np.array(x, copy=True), (params, optimizer_state[0])))
  with pytest.raises(spec.TrainingCompleteError, match='every layer group is frozen'):
    freezeout.update_params(workload, params, workload.model_params_types, model_state, hp,
                            next(queue), workload.loss_type, optimizer_state, [], 12, None)

  for group, (key, stop) in enumerate(zip(['Conv_0', 'Conv_1', 'Dense_0'], (6, 9, 12),
                                          strict=True)):
    trained = [history[s][0][key] for s in range(stop + 1)]
    assert not np.array_equal(trained[-2]['kernel'], trained[-1]['kernel'])  # trained to stop
    for later in history[stop:]:
      for a, b in zip(jax.tree.leaves((history[stop][0][key], history[stop][1][group])),
                      jax.tree.leaves((later[0][key], later[1][group])), strict=True):
        assert a.tobytes() == b.tobytes(), (key, stop)
