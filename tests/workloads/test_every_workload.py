"""Every registered workload and variant honours the contract on small data."""

import math

import jax
import numpy as np
import pytest

from algoperf import spec
from workloads import registry

ALL = registry.workload_names()
# ResNet-18 steps are slow on CPU (compiling its train step alone takes ~15 s): cifar
# trains with tiny batches and few steps, and only in the slow run; the default run
# covers cifar's forward pass, batch norm and eval in test_tfds_workloads.py.
TRAIN = {'cifar': (8, 3)}
ALL_CIFAR_SLOW = [pytest.param(n, marks=pytest.mark.slow) if n == 'cifar' else n for n in ALL]
DEFAULT_TRAIN = (32, 30)
EVAL_BATCH = {'cifar': 32}


def _host(batch):
  return {k: np.asarray(v) for k, v in batch.items()}


@pytest.mark.parametrize('name', ALL)
def test_constants_are_sane(name):
  workload = registry.get_workload(name)
  assert 0 < workload.validation_target_value and 0 < workload.test_target_value
  if workload.target_metric_name == 'accuracy':
    assert workload.target_metric_higher_is_better
    assert workload.validation_target_value < 1 and workload.test_target_value < 1
  else:  # Loss-like targets: lower is better.
    assert not workload.target_metric_higher_is_better
  assert isinstance(workload.loss_type, spec.LossType)
  assert workload.eval_period_time_sec < workload.max_allowed_runtime_sec
  assert workload.step_hint > 0
  assert workload.default_batch_size > 0 and workload.eval_batch_size > 0
  assert workload.num_eval_train_examples <= workload.num_train_examples


@pytest.mark.parametrize('name', ALL_CIFAR_SLOW)
def test_trains_and_evaluates(name, prepared, trainer):
  workload, data_dir = prepared(name)
  batch_size, steps = TRAIN.get(name, DEFAULT_TRAIN)
  losses, params, model_state = trainer(workload, data_dir, batch_size, steps)
  assert all(math.isfinite(v) for v in losses)
  if name != 'cifar':
    assert np.mean(losses[-5:]) < np.mean(losses[:5])

  # Shapes/types were recorded and match the params.
  shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
  assert shapes == workload.param_shapes
  assert (jax.tree.structure(workload.model_params_types)
          == jax.tree.structure(jax.tree.map(lambda _: 0, params)))
  assert sum(workload.is_output_params(k) for k in params) == 1

  metric = workload.target_metric_name
  results = workload.eval_model(EVAL_BATCH.get(name, workload.eval_batch_size), params,
                                model_state, jax.random.key(0), data_dir, None, steps)
  for prefix in ('train', 'validation', 'test'):
    for key in {'loss', metric}:
      value = results[f'{prefix}/{key}']
      assert type(value) is float and math.isfinite(value)
    if metric == 'accuracy':
      assert 0.0 <= results[f'{prefix}/accuracy'] <= 1.0
  assert results['validation/num_examples'] == workload.num_validation_examples
  if metric == 'accuracy' and name != 'cifar':
    assert results['train/accuracy'] > 0.2  # Well above chance after a few steps.


@pytest.mark.parametrize('name', [n for n in ALL if not registry.is_variant(n)])
def test_train_batches_are_deterministic_and_resumable(name, prepared):
  workload, data_dir = prepared(name)
  batch_size = TRAIN.get(name, DEFAULT_TRAIN)[0]
  first = workload._build_input_queue(jax.random.key(7), 'train', data_dir, batch_size)
  again = workload._build_input_queue(jax.random.key(7), 'train', data_dir, batch_size)
  other = workload._build_input_queue(jax.random.key(8), 'train', data_dir, batch_size)
  a, b, c = _host(next(first)), _host(next(again)), _host(next(other))
  np.testing.assert_array_equal(a['inputs'], b['inputs'])
  np.testing.assert_array_equal(a['targets'], b['targets'])
  assert not np.array_equal(a['inputs'], c['inputs'])
  assert a['inputs'].dtype == b['inputs'].dtype
  assert a['inputs'].shape[0] == batch_size
  assert isinstance(next(first)['inputs'].sharding, jax.sharding.NamedSharding)

  state = first.get_state()
  expected = _host(next(first))
  resumed = workload._build_input_queue(jax.random.key(7), 'train', data_dir, batch_size)
  resumed.set_state(state)
  np.testing.assert_array_equal(_host(next(resumed))['inputs'], expected['inputs'])


@pytest.mark.parametrize('name', ['mnist1d', 'fashion_mnist'])
def test_eval_compiles_once_and_masks_padding(name, prepared, trainer):
  workload, data_dir = prepared(name)
  params, model_state = workload.init_model_fn(jax.random.key(0))
  # 4000 validation examples in batches of 3000: the second batch is 2000 padding rows.
  full = workload._eval_model_on_split('validation', 4000, 4000, params, model_state, None,
                                       data_dir)
  padded = workload._eval_model_on_split('validation', 4000, 3000, params, model_state, None,
                                         data_dir)
  assert padded == pytest.approx(full, rel=1e-5)
  compiled = workload._eval_step._cache_size()
  workload.eval_model(3000, params, model_state, None, data_dir, None, 0)
  assert workload._eval_step._cache_size() == compiled  # No recompilation per eval call.
