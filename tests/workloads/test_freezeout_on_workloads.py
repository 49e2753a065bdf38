"""FreezeOut on the real workloads: each workload's layer groups (`parameter_groups_input_to_
output`) are its forward order, reach submissions through the workload view, and FreezeOut
trains through every freezing stage, prepares and evaluates on every lite base workload."""

import collections
import math

import jax
import numpy as np
import pytest

from algoperf import spec, suite, workload_view
from reference_algorithms.freezeout import submission as freezeout
from workloads import registry

LITE = suite.load_suite(suite.LITE).targets.base_workloads
# Variants whose layers differ from their base's; the others only swap an activation or a
# spectrum, and run in the slow set.
NEW_LAYERS = ('mnist1d_cnn_batchnorm', 'char_lm_postnorm')
LITE_AND_VARIANTS = [
    n if n in LITE or n in NEW_LAYERS else pytest.param(n, marks=pytest.mark.slow)
    for n in registry.workload_names() if registry.base_workload_name(n) in LITE]
_VALUES = dict(learning_rate=0.01, one_minus_beta1=0.1, warmup_factor=0.0, weight_decay=1e-4,
               label_smoothing=0.0, dropout_rate=0.0, base_optimizer='nesterov', t_0=0.5,
               freeze_scaling='linear', scale_lr=True)
HP = collections.namedtuple('Hyperparameters', list(_VALUES))(**_VALUES)
# The slow run shrinks the step hint to this, which puts a step or two in every stage.
STEP_HINT = 8
BATCH_SIZE = 16


def _batch(workload, data_dir):
  return next(workload._build_input_queue(jax.random.key(0), 'train', data_dir, BATCH_SIZE))


def _first_use_order(workload, params, model_state, batch) -> list[str]:
  """Top-level param keys in the order the traced forward pass first reads them."""
  def forward(params, model_state):
    return workload.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, None,
                             update_batch_norm=False)[0]
  jaxpr = jax.make_jaxpr(forward)(params, model_state).jaxpr
  paths, _ = jax.tree_util.tree_flatten_with_path(params)
  # The params' variables come first. By id: equations also read (unhashable) literals.
  key_of = {id(var): path[0].key
            for var, (path, _) in zip(jaxpr.invars[:len(paths)], paths, strict=True)}
  first: dict[str, int] = {}
  for index, eqn in enumerate(jaxpr.eqns):
    for var in eqn.invars:
      if id(var) in key_of:
        first.setdefault(key_of[id(var)], index)
  return sorted(first, key=first.get)


@pytest.mark.parametrize('name', LITE_AND_VARIANTS)
def test_layer_groups_are_the_forward_order_and_reach_submissions(name, prepared):
  workload, data_dir = prepared(name)
  # Shapes only (no init to compile); init_model_fn records the param shapes as it runs.
  params, model_state = jax.eval_shape(workload.init_model_fn, jax.random.key(0))
  groups = workload.parameter_groups_input_to_output()
  assert sorted(k for g in groups for k in g) == sorted(params)  # a partition
  group_of = {key: i for i, group in enumerate(groups) for key in group}
  order = _first_use_order(workload, params, model_state, _batch(workload, data_dir))
  assert [group_of[k] for k in order] == sorted(group_of[k] for k in order), order
  assert set(order) == set(params)
  view = workload_view.SubmissionWorkload(workload, None)
  assert view.parameter_groups_input_to_output() == groups
  assert 'parameter_groups_input_to_output' in dir(view)


def _train(workload, data_dir, num_steps: int):
  """`num_steps` FreezeOut steps from init; returns the states and the schedule."""
  params, model_state = workload.init_model_fn(jax.random.key(0))
  optimizer_state = freezeout.init_optimizer_state(workload, params, model_state, HP,
                                                   jax.random.key(1))
  queue = workload._build_input_queue(jax.random.key(2), 'train', data_dir, BATCH_SIZE)
  schedule, snapshots = optimizer_state[1].schedule, []
  for step in range(num_steps):
    snapshots.append(jax.tree.map(np.array, params))  # host copies: params are donated
    optimizer_state, params, model_state = freezeout.update_params(
        workload, params, workload.model_params_types, model_state, HP, next(queue),
        workload.loss_type, optimizer_state, [], step, jax.random.key(step))
  snapshots.append(jax.tree.map(np.array, params))
  return optimizer_state, params, model_state, schedule, snapshots


def _evaluates(workload, data_dir, optimizer_state, params, model_state, step):
  _, eval_params, model_state = freezeout.prepare_for_eval(
      workload, params, workload.model_params_types, model_state, HP, workload.loss_type,
      optimizer_state, [], step, None)
  results = workload.eval_model(workload.eval_batch_size, eval_params, model_state,
                                jax.random.key(3), data_dir, None, step)
  value = results[f'validation/{workload.target_metric_name}']
  assert type(value) is float and math.isfinite(value)


@pytest.mark.parametrize('name', LITE)
def test_freezeout_trains_a_few_steps_and_evaluates(name, prepared):
  workload, data_dir = prepared(name)
  optimizer_state, params, model_state, schedule, snapshots = _train(workload, data_dir, 3)
  assert schedule.stops[-1] == workload.step_hint  # the output group trains to the end
  assert not np.array_equal(jax.tree.leaves(snapshots[0]), jax.tree.leaves(snapshots[-1]))
  _evaluates(workload, data_dir, optimizer_state, params, model_state, 3)


@pytest.mark.slow  # a compile per stage: ~45 s for the six
@pytest.mark.parametrize('name', LITE)
def test_freezeout_trains_through_every_stage_and_evaluates(name, prepared):
  workload, data_dir = prepared(name)
  workload.STEP_HINT = STEP_HINT  # an instance attribute: the class keeps its hint
  optimizer_state, params, model_state, schedule, snapshots = _train(
      workload, data_dir, STEP_HINT)
  assert schedule.stops[-1] == STEP_HINT
  for group, stop in zip(schedule.groups, schedule.stops, strict=True):
    frozen = [{k: snapshot[k] for k in group} for snapshot in snapshots[stop:]]
    for later in frozen[1:]:
      for a, b in zip(jax.tree.leaves(frozen[0]), jax.tree.leaves(later), strict=True):
        np.testing.assert_array_equal(a, b)
  with pytest.raises(spec.TrainingCompleteError):
    freezeout.update_params(workload, params, workload.model_params_types, model_state, HP,
                            None, workload.loss_type, optimizer_state, [], STEP_HINT, None)
  _evaluates(workload, data_dir, optimizer_state, params, model_state, STEP_HINT)
