"""The instruments on this repo's workloads (through the Workload API) and their errors.

The noisy quadratic has a known Hessian H and per-example gradients Gᵢ = H(θ − xᵢ), so
its `full` observation is checked against NumPy; the MLP and batch-norm CNN runs are slow.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algoperf import instruments
from workloads import registry

B = 16


def _noisy_quadratic_batch(seed=0):
  rng = np.random.default_rng(seed)
  x = (0.6 * rng.normal(size=(B, 100))).astype(np.float32)
  return {'inputs': x, 'targets': np.zeros_like(x)}


@pytest.fixture(scope='module')
def quadratic():
  workload = registry.get_workload('noisy_quadratic')
  params_init, state = workload.init_model_fn(jax.random.PRNGKey(0))
  params0 = {'theta': params_init['theta'] * 0.5}
  params1 = {'theta': params_init['theta'] * 0.45}
  batch = _noisy_quadratic_batch()
  computer = instruments.Instruments(
      'full,mean_gsnr,tic_trace,early_stopping,cabs',
      instruments.per_example_loss_fn(workload, state), hess_diag='hutchinson',
      hutchinson_samples=200, max_chunk_bytes=5 * 100 * 4)  # 4 chunks of 5, the last padded
  obs = computer.observe(params0, params1, params_init, batch, jax.random.PRNGKey(1),
                         learning_rate=0.05, model_state=state)
  return workload, computer, obs, (params_init, params0, params1, batch)


def test_full_on_noisy_quadratic_matches_numpy(quadratic):
  workload, computer, obs, (params_init, params0, params1, batch) = quadratic
  h = workload.hessian.astype(np.float32).astype(np.float64)
  theta0 = np.asarray(params0['theta'], np.float64)
  r = theta0[None] - batch['inputs'].astype(np.float64)
  losses = 0.5 * np.einsum('bi,ij,bj->b', r, h, r)
  g_i = r @ h                                  # per-example gradients Hrᵢ
  g = g_i.mean(0)
  gg = g @ g
  assert all(math.isfinite(v) for v in obs.scalars.values()), obs.scalars
  assert not obs.notes
  assert obs.scalars['loss'] == pytest.approx(losses.mean(), rel=1e-5)
  assert obs.scalars['grad_norm'] == pytest.approx(math.sqrt(gg), rel=1e-5)
  assert obs.scalars['distance'] == pytest.approx(
      np.linalg.norm(np.asarray(params0['theta']) - np.asarray(params_init['theta'])), rel=1e-6)
  norm = math.sqrt(((g_i - g) ** 2).sum() / (B - 1) / B / gg)
  assert obs.scalars['norm_test'] == pytest.approx(norm, rel=1e-4)
  dots = g_i @ g
  assert obs.scalars['inner_test'] == pytest.approx(
      math.sqrt(((dots - gg) ** 2).sum() / (B - 1) / B / gg**2), rel=1e-3)
  m2 = (g_i**2).mean(0)
  assert obs.scalars['mean_gsnr'] == pytest.approx(np.mean(g**2 / (m2 - g**2 + 1e-5)), rel=1e-4)
  # the Hessian is H: Lanczos finds λmax, Hutchinson's 200 samples are within 5σ of tr H
  eigs = np.linalg.eigvalsh(h)
  assert obs.scalars['hess_max_ev'] == pytest.approx(eigs[-1], rel=1e-4)
  sigma = math.sqrt(2 * ((h - np.diag(np.diag(h))) ** 2).sum() / 200)
  assert abs(obs.scalars['hess_trace'] - np.trace(h)) < 5 * sigma
  # TIC with Hutchinson's diagonal: its trace form divides by the same trace estimate
  assert obs.scalars['tic_trace'] == pytest.approx(m2.sum() / obs.scalars['hess_trace'],
                                                   rel=1e-4)
  assert 'Hutchinson estimate from 200' in computer.method_note
  assert obs.arrays['grad_hist_1d'].sum() == B * 100
  assert obs.arrays['grad_hist_2d'].sum() == B * 100
  assert 'no batch-norm state' in computer.forward_mode_note
  assert [p.chunk_size for p in computer._plans.values()] == [5]


def test_per_token_losses_are_averaged_per_row_with_masks():
  """A [B, T] per-example loss (char_lm) becomes one loss per row; weights mask rows
  and positions; the batch loss is the mean over valid rows."""

  class TokenWorkload:
    def model_fn(self, params, batch, model_state, mode, rng, update_batch_norm):
      return batch['inputs'] * params['w'], model_state

    def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
      per = (logits_batch - label_batch) ** 2
      if mask_batch is not None:
        per = per * mask_batch.reshape(mask_batch.shape + (1,) * (per.ndim - mask_batch.ndim))
      return {'summed': per.sum(), 'n_valid_examples': per.size, 'per_example': per}

  helper = instruments.per_example_loss_fn(TokenWorkload())
  fn = jax.jit(lambda params, batch: helper(params, batch))
  inputs = jnp.arange(12.0).reshape(3, 4)
  batch = {'inputs': inputs, 'targets': jnp.zeros((3, 4)), 'weights': jnp.array([1.0, 0, 1])}
  losses, valid = fn({'w': 1.0}, batch)
  np.testing.assert_allclose(losses, [np.mean(inputs[0] ** 2), 0.0, np.mean(inputs[2] ** 2)])
  np.testing.assert_array_equal(valid, [True, False, True])
  token_mask = jnp.ones((3, 4)).at[0, 2:].set(0)
  losses, valid = fn({'w': 1.0}, {**batch, 'weights': token_mask})
  assert float(losses[0]) == pytest.approx(np.mean(inputs[0, :2] ** 2))
  assert bool(valid.all())


# --- errors -------------------------------------------------------------------------------


def _linear_loss(params, batch):
  return (batch['inputs'] @ params['w'] - batch['targets']) ** 2


def _linear_setup():
  params = {'w': jnp.ones((4,))}
  batch = {'inputs': jnp.arange(24.0).reshape(6, 4) / 10, 'targets': jnp.ones((6,))}
  return params, batch


def test_memory_bound_too_small_names_the_flag():
  params, batch = _linear_setup()
  computer = instruments.Instruments('economy', _linear_loss, max_chunk_bytes=15)
  with pytest.raises(ValueError, match=r'^--instruments_max_chunk_bytes=15 is too small') as e:
    computer.check(params, batch)
  assert '16 bytes (4 parameters' in str(e.value)
  # quantities without per-example gradients are fine under the same bound
  instruments.Instruments('loss,alpha,hess_trace', _linear_loss, max_chunk_bytes=15).check(
      params, batch)
  with pytest.raises(ValueError, match='^--mem must be positive'):
    instruments.Instruments('loss', _linear_loss, max_chunk_bytes=0, memory_flag='--mem')


def test_memory_bound_sets_the_chunk_size():
  params, batch = _linear_setup()
  computer = instruments.Instruments('norm_test', _linear_loss, max_chunk_bytes=4 * 4 * 4)
  computer.check(params, batch)
  assert [p.chunk_size for p in computer._plans.values()] == [4]


def test_workload_without_per_example_losses_names_the_flag():
  class NoPerExample:
    def model_fn(self, params, batch, model_state, mode, rng, update_batch_norm):
      return batch['inputs'] @ params['w'], model_state

    def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
      return {'summed': jnp.sum(logits_batch), 'n_valid_examples': logits_batch.shape[0]}

  params, batch = _linear_setup()
  computer = instruments.Instruments('loss', instruments.per_example_loss_fn(NoPerExample()))
  with pytest.raises(ValueError, match=r"^--instruments: workload NoPerExample's loss_fn "
                                       r"returns no 'per_example' losses"):
    computer.check(params, batch)


def test_batch_level_loss_and_bad_batches_are_errors():
  params, batch = _linear_setup()
  mean_only = instruments.Instruments('loss', lambda p, b: jnp.mean(_linear_loss(p, b)))
  with pytest.raises(ValueError, match=r'^--instruments: the per-example loss function '
                                       r'returned shape \(\)'):
    mean_only.check(params, batch)
  computer = instruments.Instruments('loss', _linear_loss)
  with pytest.raises(ValueError, match=r"batch entry \['targets'\] has shape \(5,\)"):
    computer.check(params, {**batch, 'targets': jnp.ones((5,))})
  with pytest.raises(ValueError, match='need params_after'):
    instruments.Instruments('update_size', _linear_loss).observe(params, None, params, batch)
  with pytest.raises(ValueError, match='distance needs initial_params'):
    instruments.Instruments('distance', _linear_loss).observe(params, params, None, batch)


def test_losses_that_couple_examples_are_refused():
  """Batch statistics in the forward pass (batch norm in train mode) make per-example
  gradients of a batch of one wrong: observe() raises instead of reporting them."""

  def batch_normed(params, batch):
    x = batch['inputs']
    x = (x - x.mean(0)) / (x.std(0) + 1e-3)
    return (x @ params['w'] - batch['targets']) ** 2

  params, batch = _linear_setup()
  computer = instruments.Instruments('loss,norm_test', batch_normed)
  with pytest.raises(ValueError, match='depend on the rest of the batch') as e:
    computer.observe(params, params, params, batch)
  assert 'eval mode' in str(e.value)


# --- real models (slow) ---------------------------------------------------------------------


def _mnist1d_batch(seed=0):
  rng = np.random.default_rng(seed)
  return {'inputs': rng.normal(size=(B, 40)).astype(np.float32),
          'targets': rng.integers(0, 10, B).astype(np.int32)}


@pytest.mark.slow
def test_full_on_mnist1d_is_finite():
  workload = registry.get_workload('mnist1d')
  params, state = workload.init_model_fn(jax.random.PRNGKey(0))
  batch = _mnist1d_batch()
  grads = jax.grad(lambda p: jnp.mean(
      workload.loss_fn(batch['targets'], workload.model_fn(
          p, batch, state, None, None, False)[0])['per_example']))(params)
  after = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
  computer = instruments.Instruments(
      'full', instruments.per_example_loss_fn(workload, state),
      max_chunk_bytes=5 * 80_000 * 4)  # chunks of 5 examples
  obs = computer.observe(params, after, params, batch, jax.random.PRNGKey(1), model_state=state)
  assert set(obs.scalars) == {'loss', 'grad_norm', 'update_size', 'distance', 'alpha',
                              'norm_test', 'inner_test', 'ortho_test', 'hess_trace',
                              'hess_max_ev', 'tic_diag'}
  assert all(math.isfinite(v) for v in obs.scalars.values()), obs.scalars
  assert obs.scalars['distance'] == 0.0 and obs.scalars['update_size'] > 0
  assert obs.arrays['grad_hist_1d'].sum() == B * computer.num_params
  assert 'Hutchinson estimate' in computer.method_note  # D = 78,858 > 2048


@pytest.mark.slow
def test_batch_norm_workload_uses_running_statistics():
  workload = registry.get_workload('mnist1d_cnn_batchnorm')
  params, state = workload.init_model_fn(jax.random.PRNGKey(0))
  fn = instruments.per_example_loss_fn(workload, state)
  assert 'running statistics' in fn.forward_mode_note
  computer = instruments.Instruments('loss,norm_test,grad_norm', fn)
  assert computer.forward_mode_note == fn.forward_mode_note
  obs = computer.observe(params, params, params, _mnist1d_batch(), jax.random.PRNGKey(0),
                         model_state=state)
  assert all(math.isfinite(v) for v in obs.scalars.values())
