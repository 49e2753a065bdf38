"""Ensemble evaluation (docs/ensembles.md) on the lite workloads: the math of the average
predictive distribution, identical members equal the single model, unsupported workloads."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algoperf import spec
from workloads import registry

# One workload per kind of output: MLP and CNN classifiers (the CNN with batch norm, so
# members carry model states), a per-token language model and a regression. The language
# model's check is slow (its ensembles run by default in
# test_averaging_algorithms_on_workloads.py).
KINDS = ('mnist1d', 'mnist1d_cnn_batchnorm', pytest.param('char_lm', marks=pytest.mark.slow),
         'noisy_quadratic')


def _members(workload, count):
  return [workload.init_model_fn(jax.random.key(seed)) for seed in range(count)]


@pytest.mark.parametrize('name', KINDS)
def test_identical_members_evaluate_like_the_single_model(name, prepared):
  workload, data_dir = prepared(name)
  params, model_state = workload.init_model_fn(jax.random.key(0))
  batch = min(workload.eval_batch_size, 256)
  single = workload.eval_model(batch, params, model_state, None, data_dir, None, 0)
  three = spec.Ensemble.stack([(params, model_state)] * 3)
  together = workload.eval_model(batch, three, None, None, data_dir, None, 0)
  assert together.keys() == single.keys()
  for key, value in single.items():
    assert together[key] == pytest.approx(value, rel=2e-5, abs=1e-6), key


def test_classification_averages_probabilities_not_logits(prepared):
  """Validation loss and accuracy of two different members equal NumPy's on the mean of
  their softmax probabilities (and differ from averaging logits)."""
  workload, data_dir = prepared('mnist1d')
  members = _members(workload, 2)
  split = workload.splits(data_dir)['validation']
  probabilities = []
  for params, model_state in members:
    logits, _ = workload.model_fn(params, {'inputs': jnp.asarray(split['inputs'])},
                                  model_state, spec.ForwardPassMode.EVAL, None,
                                  update_batch_norm=False)
    logits = np.asarray(logits, np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities.append(exp / exp.sum(axis=1, keepdims=True))
  mean = np.mean(probabilities, axis=0)
  labels = split['targets']
  expected_loss = -np.mean(np.log(mean[np.arange(len(labels)), labels]))
  expected_accuracy = np.mean(mean.argmax(axis=1) == labels)
  result = workload.eval_model(256, spec.Ensemble.stack(members), None, None, data_dir,
                               None, 0)
  assert result['validation/loss'] == pytest.approx(expected_loss, rel=1e-5)
  assert result['validation/accuracy'] == pytest.approx(expected_accuracy, abs=1e-9)


def test_combine_is_the_log_of_the_mean_probability():
  workload = registry.get_workload('mnist1d')
  logits = jax.random.normal(jax.random.key(3), (4, 5, 10)) * 3.0
  combined = np.asarray(workload.combine_ensemble_outputs(logits), np.float64)
  x = np.asarray(logits, np.float64)
  probabilities = np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)
  np.testing.assert_allclose(np.exp(combined), probabilities.mean(axis=0), rtol=1e-5)


def test_regression_averages_predictions():
  workload = registry.get_workload('noisy_quadratic')
  outputs = np.random.default_rng(0).normal(size=(3, 4, 100)).astype(np.float32)
  np.testing.assert_allclose(np.asarray(workload.combine_ensemble_outputs(outputs)),
                             outputs.mean(axis=0), rtol=1e-6)


def test_member_state_defaults_to_the_shared_one(prepared):
  """An ensemble without its own model states is evaluated with the one passed beside it."""
  workload, data_dir = prepared('mnist1d_cnn_batchnorm')
  params, model_state = workload.init_model_fn(jax.random.key(0))
  bare = spec.Ensemble.stack([(params, None)] * 2)
  with_state = workload.eval_model(256, bare, model_state, None, data_dir, None, 0)
  single = workload.eval_model(256, params, model_state, None, data_dir, None, 0)
  assert with_state['validation/loss'] == pytest.approx(single['validation/loss'], rel=2e-5)
  assert math.isfinite(with_state['validation/loss'])


def test_stack_refuses_empty_and_mismatched_members():
  a = {'w': jnp.ones((2, 3))}
  with pytest.raises(spec.EnsembleError, match='at least one member'):
    spec.Ensemble.stack([])
  with pytest.raises(spec.EnsembleError, match='different structure'):
    spec.Ensemble.stack([(a, None), ({'v': jnp.ones((2, 3))}, None)])
  with pytest.raises(spec.EnsembleError, match='different leaf shapes'):
    spec.Ensemble.stack([(a, None), ({'w': jnp.ones((3, 2))}, None)])
  ensemble = spec.Ensemble.stack([(a, None)] * 4)
  assert ensemble.num_members == 4
  assert ensemble.extra_bytes == 3 * 6 * 4  # three float32 copies of six numbers
  np.testing.assert_array_equal(ensemble.member(-1)[0]['w'], a['w'])
