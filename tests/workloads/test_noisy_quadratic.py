"""The noisy quadratic workload: its Hessian, loss, statistics, pipeline and API."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from algoperf import spec
from reference_algorithms.common import train_step
from workloads.noisy_quadratic.workload import (
  NoisyQuadraticIllCondWorkload,
  NoisyQuadraticWorkload,
)

WORKLOADS = [NoisyQuadraticWorkload, NoisyQuadraticIllCondWorkload]


@pytest.fixture(scope='module')
def workload():
  return NoisyQuadraticWorkload()


def _numpy_loss(hessian, theta, x):
  r = np.asarray(theta, np.float64)[None, :] - np.asarray(x, np.float64)
  return 0.5 * np.einsum('bi,ij,bj->b', r, hessian, r)


@pytest.mark.parametrize('cls', WORKLOADS)
def test_hessian_has_exactly_the_configured_spectrum(cls):
  w = cls()
  np.testing.assert_allclose(np.linalg.eigvalsh(w.hessian), w.eigenvalues, atol=1e-10)
  np.testing.assert_array_equal(w.hessian, w.hessian.T)
  small, large = w.eigenvalues[:-w.NUM_LARGE], w.eigenvalues[-w.NUM_LARGE:]
  assert len(w.eigenvalues) == w.DIM
  assert w.SMALL_EIGENVALUES[0] <= small.min() and small.max() <= w.SMALL_EIGENVALUES[1]
  assert w.LARGE_EIGENVALUES[0] <= large.min() and large.max() <= w.LARGE_EIGENVALUES[1]
  # H is rotated: not diagonal in the parameter basis.
  off_diagonal = w.hessian - np.diag(np.diag(w.hessian))
  assert np.abs(off_diagonal).max() > 1.0


def test_variant_has_a_wider_spectrum(workload):
  variant = NoisyQuadraticIllCondWorkload()
  base_condition = workload.eigenvalues[-1] / workload.eigenvalues[0]
  variant_condition = variant.eigenvalues[-1] / variant.eigenvalues[0]
  assert variant_condition > 5 * base_condition
  assert not np.allclose(variant.hessian, workload.hessian)
  assert variant.validation_target_value != workload.validation_target_value


def test_problem_is_deterministic(workload):
  again = NoisyQuadraticWorkload()
  np.testing.assert_array_equal(again.hessian, workload.hessian)
  for split in ('train', 'validation', 'test'):
    np.testing.assert_array_equal(again.splits(None)[split]['inputs'],
                                  workload.splits(None)[split]['inputs'])
  inputs = {s: workload.splits(None)[s]['inputs'] for s in ('train', 'validation', 'test')}
  assert not np.array_equal(inputs['train'][:100], inputs['validation'][:100])
  assert not np.array_equal(inputs['validation'][:100], inputs['test'][:100])


def test_loss_is_the_closed_form_averaged_over_examples(workload):
  theta = np.random.default_rng(0).normal(size=workload.DIM).astype(np.float32)
  batch = {k: v[:64] for k, v in workload.splits(None)['validation'].items()}
  logits, _ = workload.model_fn({'theta': jnp.asarray(theta)}, batch, None,
                                spec.ForwardPassMode.TRAIN, None, True)
  out = workload.loss_fn(batch['targets'], logits, label_smoothing=0.1)
  want = _numpy_loss(workload.hessian, theta, batch['inputs'])
  np.testing.assert_allclose(out['per_example'], want, rtol=1e-4)
  assert float(out['summed'] / out['n_valid_examples']) == pytest.approx(want.mean(), rel=1e-5)

  mask = (np.arange(64) % 2).astype(np.float32)
  masked = workload.loss_fn(batch['targets'], logits, jnp.asarray(mask))
  assert float(masked['n_valid_examples']) == 32
  np.testing.assert_allclose(masked['per_example'], want * mask, rtol=1e-4)
  assert float(masked['summed']) == pytest.approx((want * mask).sum(), rel=1e-5)


def test_loss_at_the_optimum_is_half_sigma_squared_trace(workload):
  # θ = 0 minimises the expected loss; its value there is ½ σ² tr(H).
  expected = 0.5 * workload.NOISE_STD**2 * np.trace(workload.hessian)
  assert workload.expected_optimal_loss == pytest.approx(expected)
  zero = {'theta': jnp.zeros(workload.DIM)}
  n = workload.num_validation_examples
  measured = workload._eval_model_on_split('validation', n, 5000, zero, None, None, None)
  # Per-example loss has variance ½ σ⁴ Σλ² (a weighted chi-square); 4 standard errors.
  std_error = workload.NOISE_STD**2 * math.sqrt(0.5 * np.sum(workload.eigenvalues**2) / n)
  assert abs(measured['loss'] - expected) < 4 * std_error
  assert std_error < 0.01 * expected  # the check is tight


@pytest.mark.parametrize('cls', WORKLOADS)
def test_eval_keys_metric_direction_and_targets(cls):
  workload = cls()
  params, model_state = workload.init_model_fn(jax.random.key(0))
  results = workload.eval_model(workload.eval_batch_size, params, model_state,
                                jax.random.key(1), None, None, 0)
  assert set(results) == {'train/loss', 'validation/loss', 'validation/num_examples',
                          'test/loss', 'test/num_examples'}
  assert all(type(results[f'{p}/loss']) is float for p in ('train', 'validation', 'test'))
  assert workload.target_metric_name == 'loss'
  assert not workload.target_metric_higher_is_better
  assert workload.loss_type == spec.LossType.MEAN_SQUARED_ERROR
  target = workload.validation_target_value
  at_optimum = workload.eval_model(workload.eval_batch_size, {'theta': jnp.zeros(workload.DIM)},
                                   None, None, None, None, 0)
  for split in ('validation', 'test'):
    target = getattr(workload, f'{split}_target_value')
    assert at_optimum[f'{split}/loss'] < target < results[f'{split}/loss']
  target = workload.validation_target_value
  assert workload.has_reached_validation_target({'validation/loss': target - 0.01})
  assert not workload.has_reached_validation_target({'validation/loss': target + 0.01})
  assert workload.has_reached_test_target({'test/loss': workload.test_target_value})


def test_init_is_a_nonzero_point_from_the_rng(workload):
  a, _ = workload.init_model_fn(jax.random.key(0))
  b, _ = workload.init_model_fn(jax.random.key(0))
  c, _ = workload.init_model_fn(jax.random.key(1))
  np.testing.assert_array_equal(a['theta'], b['theta'])
  assert not np.array_equal(a['theta'], c['theta'])
  assert float(jnp.linalg.norm(a['theta'])) > 1.0
  assert workload.param_shapes == {'theta': spec.ShapeTuple((workload.DIM,))}
  assert workload.model_params_types == {'theta': spec.ParameterType.WEIGHT}
  assert workload.is_output_params('theta')


def test_train_batches_are_deterministic_and_resumable(workload):
  def host(batch):
    return np.asarray(batch['inputs'])

  first = workload._build_input_queue(jax.random.key(7), 'train', None, 32)
  again = workload._build_input_queue(jax.random.key(7), 'train', None, 32)
  other = workload._build_input_queue(jax.random.key(8), 'train', None, 32)
  a = next(first)
  np.testing.assert_array_equal(host(a), host(next(again)))
  assert not np.array_equal(host(a), host(next(other)))
  assert a['inputs'].shape == a['targets'].shape == (32, workload.DIM)
  assert a['inputs'].dtype == np.float32
  state = first.get_state()
  expected = host(next(first))
  resumed = workload._build_input_queue(jax.random.key(7), 'train', None, 32)
  resumed.set_state(state)
  np.testing.assert_array_equal(host(next(resumed)), expected)


def test_reference_train_step_with_adam_lowers_the_loss(workload):
  # The shared baseline step (mean masked loss, label smoothing passed and ignored).
  params, model_state = workload.init_model_fn(jax.random.key(0))
  tx = optax.adam(0.05)
  step = train_step.build_train_step(workload, tx, label_smoothing=0.1)
  opt_state = tx.init(params)
  queue = workload._build_input_queue(jax.random.key(1), 'train', None, 128)
  losses = []
  for _ in range(30):
    params, model_state, opt_state, loss, _ = step(params, model_state, opt_state,
                                                   next(queue), jax.random.key(2))
    losses.append(float(loss))
  assert all(math.isfinite(v) for v in losses)
  assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 20
