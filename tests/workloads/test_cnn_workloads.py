"""The CNN workloads (mnist1d_cnn, fashion_mnist_cnn) and the shared ConvNet they build."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algoperf import spec
from workloads import registry
from workloads.common import models

T = spec.ParameterType
CNN_NAMES = ['mnist1d_cnn', 'mnist1d_cnn_batchnorm', 'fashion_mnist_cnn',
             'fashion_mnist_cnn_tanh']


def _init(model, shape):
  return model.init(jax.random.key(0), jnp.zeros(shape), train=False)


@pytest.mark.parametrize('input_shape, kernel, flat_size', [
    ((3, 40), (5,), 10 * 6),          # 1-D, channel axis added: 40 → 20 → 10.
    ((3, 28, 28, 1), (3, 3), 7 * 7 * 6),
    ((3, 9, 9), (3, 3), 3 * 3 * 6),   # 2-D, odd size: 'SAME' pooling rounds up 9 → 5 → 3.
])
def test_convnet_shapes_for_1d_and_2d_inputs(input_shape, kernel, flat_size):
  model = models.ConvNet(conv_features=(4, 6), kernel_size=kernel, pool_size=(2,) * len(kernel),
                         dense_sizes=(5,), num_classes=7)
  variables = _init(model, input_shape)
  params = variables['params']
  assert set(variables) == {'params'}
  in_channels = input_shape[-1] if len(input_shape) == len(kernel) + 2 else 1
  assert params['Conv_0']['kernel'].shape == (*kernel, in_channels, 4)
  assert params['Conv_1']['kernel'].shape == (*kernel, 4, 6)
  assert params['Dense_0']['kernel'].shape == (flat_size, 5)
  assert params[model.output_layer_name]['kernel'].shape == (5, 7)
  x = jax.random.normal(jax.random.key(1), input_shape)
  assert model.apply(variables, x).shape == (3, 7)


def test_convnet_without_pooling_or_dense_layers():
  model = models.ConvNet(conv_features=(2,), kernel_size=(3,), pool_size=None, dense_sizes=(),
                         num_classes=4)
  params = _init(model, (1, 11))['params']
  assert model.output_layer_name == 'Dense_0'
  assert params['Dense_0']['kernel'].shape == (11 * 2, 4)


def test_missing_channel_axis_is_the_same_as_one_channel():
  model = models.ConvNet(conv_features=(3,), kernel_size=(3, 3), pool_size=(2, 2),
                         dense_sizes=(8,), num_classes=10)
  variables = _init(model, (1, 12, 12, 1))
  x = jax.random.normal(jax.random.key(2), (2, 12, 12))
  np.testing.assert_array_equal(model.apply(variables, x), model.apply(variables, x[..., None]))


@pytest.mark.parametrize('shape, window', [
    ((2, 28, 28, 3), (2, 2)), ((2, 7, 9, 2), (2, 3)), ((2, 40, 4), (2,)), ((2, 5, 1), (2,))])
def test_max_pool_matches_flax_values_and_gradients(shape, window):
  x = jax.random.normal(jax.random.key(3), shape)  # Continuous values: no ties.

  def flax_pool(x):
    return nn.max_pool(x, window, strides=window, padding='SAME')

  def ours(x):
    return models.max_pool(x, window)

  np.testing.assert_array_equal(ours(x), flax_pool(x))
  weights = jax.random.normal(jax.random.key(4), flax_pool(x).shape)

  def grad(pool):
    return jax.grad(lambda x: jnp.sum(pool(x) * weights))(x)

  np.testing.assert_allclose(grad(ours), grad(flax_pool), rtol=1e-6)


def test_param_tree_names_and_types():
  conv = {'Conv_0', 'Conv_1', 'Dense_0', 'Dense_1'}
  expected = {'mnist1d_cnn': conv, 'fashion_mnist_cnn': conv,
              'fashion_mnist_cnn_tanh': conv,
              'mnist1d_cnn_batchnorm': conv | {'BatchNorm_0', 'BatchNorm_1'}}
  for name in CNN_NAMES:
    workload = registry.get_workload(name)
    params, _ = workload.init_model_fn(jax.random.key(0))
    assert set(params) == expected[name], name
    assert [k for k in params if workload.is_output_params(k)] == ['Dense_1']
    types = workload.model_params_types
    assert types['Conv_0']['kernel'] == T.CONV_WEIGHT
    assert types['Dense_0']['kernel'] == T.WEIGHT
    if 'BatchNorm_0' in params:
      assert 'bias' not in params['Conv_0']  # Batch norm's shift replaces the conv bias.
      assert types['BatchNorm_0'] == {'scale': T.BATCH_NORM_SCALE, 'bias': T.BATCH_NORM_BIAS}
    else:
      assert types['Conv_0']['bias'] == T.BIAS


def test_batch_norm_state_updates_in_train_mode_only(mnist1d_data_dir):
  workload, data_dir = registry.get_workload('mnist1d_cnn_batchnorm'), mnist1d_data_dir
  params, model_state = workload.init_model_fn(jax.random.key(0))
  assert set(model_state['batch_stats']) == {'BatchNorm_0', 'BatchNorm_1'}
  assert registry.get_workload('mnist1d_cnn').init_model_fn(jax.random.key(0))[1] is None
  batch = next(workload._build_input_queue(jax.random.key(1), 'train', data_dir, 64))

  logits, eval_state = workload.model_fn(params, batch, model_state,
                                         spec.ForwardPassMode.EVAL, None, False)
  jax.tree.map(np.testing.assert_array_equal, eval_state, model_state)
  # Eval mode uses the running averages: an example's logits do not depend on its batch.
  half = {k: v[:32] for k, v in batch.items()}
  half_logits, _ = workload.model_fn(params, half, model_state, spec.ForwardPassMode.EVAL,
                                     None, False)
  np.testing.assert_allclose(half_logits, logits[:32], rtol=1e-5, atol=1e-5)

  train_logits, train_state = workload.model_fn(params, batch, model_state,
                                                spec.ForwardPassMode.TRAIN, None, True)
  for layer in ('BatchNorm_0', 'BatchNorm_1'):
    for stat in ('mean', 'var'):
      assert not np.allclose(train_state['batch_stats'][layer][stat],
                             model_state['batch_stats'][layer][stat]), (layer, stat)
  # Train mode normalises with batch statistics, which differ from the initial (0, 1).
  assert not np.allclose(train_logits, logits, atol=1e-3)


def test_tanh_variant_differs_from_the_base(fashion_data_dir):
  base, data_dir = registry.get_workload('fashion_mnist_cnn'), fashion_data_dir
  tanh = registry.get_workload('fashion_mnist_cnn_tanh')
  assert (base._model.activation, tanh._model.activation) == ('relu', 'tanh')
  assert registry.base_workload_name('fashion_mnist_cnn_tanh') == 'fashion_mnist_cnn'
  params, _ = base.init_model_fn(jax.random.key(0))
  tanh_params, _ = tanh.init_model_fn(jax.random.key(0))
  jax.tree.map(np.testing.assert_array_equal, params, tanh_params)  # Same architecture.
  batch = next(base._build_input_queue(jax.random.key(1), 'train', data_dir, 16))
  relu_logits, _ = base.model_fn(params, batch, None, spec.ForwardPassMode.EVAL, None, False)
  tanh_logits, _ = tanh.model_fn(params, batch, None, spec.ForwardPassMode.EVAL, None, False)
  assert not np.allclose(relu_logits, tanh_logits, atol=1e-3)


@pytest.mark.parametrize('cnn, mlp, data', [('mnist1d_cnn', 'mnist1d', 'mnist1d_data_dir'),
                                            ('fashion_mnist_cnn', 'fashion_mnist',
                                             'fashion_data_dir')])
def test_cnn_workloads_use_their_mlp_counterparts_data(request, cnn, mlp, data):
  cnn_workload, mlp_workload = registry.get_workload(cnn), registry.get_workload(mlp)
  data_dir = request.getfixturevalue(data)
  for attr in ('input_shape', 'NUM_TRAIN', 'NUM_EVAL_TRAIN', 'NUM_VALIDATION', 'NUM_TEST',
               'TRAIN_MEAN', 'TRAIN_STDDEV'):
    assert getattr(cnn_workload, attr) == getattr(mlp_workload, attr), attr
  ours, theirs = cnn_workload.splits(data_dir), mlp_workload.splits(data_dir)
  for split in ('train', 'validation', 'test'):
    for key in ('inputs', 'targets'):
      np.testing.assert_array_equal(ours[split][key], theirs[split][key])
