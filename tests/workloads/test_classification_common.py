"""Shared classification pieces: the loss against a hand computation, parameter types."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algoperf import spec
from workloads import registry
from workloads.common import param_types

T = spec.ParameterType


def _hand_cross_entropy(logits, label, smoothing, num_classes):
  logits = np.asarray(logits, np.float64)
  log_probs = logits - np.log(np.sum(np.exp(logits)))
  target = np.full(num_classes, smoothing / num_classes)
  target[label] += 1.0 - smoothing
  return -np.sum(target * log_probs)


@pytest.mark.parametrize('smoothing', [0.0, 0.1])
def test_loss_fn_matches_hand_computation_with_mask(smoothing):
  workload = registry.get_workload('mnist1d')
  logits = jnp.array([[2.0, 0.5, -1.0] + [0.0] * 7,
                      [0.0] * 9 + [3.0],
                      [1.0] * 10])
  labels = jnp.array([0, 3, 9])
  mask = jnp.array([1.0, 1.0, 0.0])
  out = workload.loss_fn(labels, logits, mask, label_smoothing=smoothing)
  expected = [_hand_cross_entropy(logits[i], labels[i], smoothing, 10) for i in range(2)]
  np.testing.assert_allclose(out['per_example'], expected + [0.0], rtol=1e-5)
  np.testing.assert_allclose(out['summed'], sum(expected), rtol=1e-5)
  assert float(out['n_valid_examples']) == 2.0

  unmasked = workload.loss_fn(labels, logits, label_smoothing=smoothing)
  assert unmasked['n_valid_examples'] == 3
  np.testing.assert_allclose(unmasked['per_example'][:2], expected, rtol=1e-5)
  assert float(unmasked['per_example'][2]) == pytest.approx(np.log(10), rel=1e-5)


def test_loss_fn_accepts_one_hot_labels():
  workload = registry.get_workload('mnist1d')
  logits = jax.random.normal(jax.random.key(0), (4, 10))
  labels = jnp.array([1, 2, 3, 4])
  dense = workload.loss_fn(labels, logits, label_smoothing=0.2)
  one_hot = workload.loss_fn(jax.nn.one_hot(labels, 10), logits, label_smoothing=0.2)
  np.testing.assert_allclose(dense['per_example'], one_hot['per_example'], rtol=1e-6)


def test_loss_fn_is_differentiable_and_jittable():
  workload = registry.get_workload('fashion_mnist')
  logits = jnp.zeros((2, 10))
  grad = jax.jit(jax.grad(lambda z: workload.loss_fn(jnp.array([0, 1]), z)['summed']))(logits)
  np.testing.assert_allclose(grad[0, 0], 0.1 - 1.0, rtol=1e-6)


def test_mlp_keeps_algoperf_mnist_names_and_types():
  workload = registry.get_workload('mnist')
  params, model_state = workload.init_model_fn(jax.random.key(0))
  assert model_state is None
  assert set(params) == {'Dense_0', 'Dense_1'}
  assert params['Dense_0']['kernel'].shape == (784, 128)
  assert workload.model_params_types == {
      'Dense_0': {'kernel': T.WEIGHT, 'bias': T.BIAS},
      'Dense_1': {'kernel': T.WEIGHT, 'bias': T.BIAS}}
  assert workload.is_output_params('Dense_1') and not workload.is_output_params('Dense_0')


def test_infer_param_types_rules():
  params = {'LayerNorm_0': {'scale': np.ones(3), 'bias': np.ones(3)},
            'Embed_0': {'embedding': np.ones((5, 3))},
            'Conv_0': {'kernel': np.ones((3, 3, 1, 2)), 'bias': np.ones(2)}}
  assert param_types.infer_param_types(params) == {
      'LayerNorm_0': {'scale': T.LAYER_NORM_SCALE, 'bias': T.LAYER_NORM_BIAS},
      'Embed_0': {'embedding': T.EMBEDDING},
      'Conv_0': {'kernel': T.CONV_WEIGHT, 'bias': T.BIAS}}
