"""Every instrument quantity against a direct reference on a tiny model (float64).

References: per-example gradients by a Python loop of `jax.grad`, the dense Hessian by
`jax.hessian` with `numpy.linalg.eigh`, and Cockpit's formulas (norm/inner/ortho tests,
GSNR, EB, CABS, TIC, Alpha's quadratic fit, histograms) written out in NumPy in the form
Cockpit's code uses (uncentred sums, BackPACK's 1/B compensated).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from algoperf import instruments
from algoperf.instruments import quantities

B_ALL = 9          # examples in the batch; the last one is masked out (weight 0)
NUM_CLASSES = 3
LR = 0.7
HUTCHINSON = 300


def _init_params(seed=0):
  rng = np.random.default_rng(seed)
  return {'dense1': {'kernel': rng.normal(0, 1.2, (3, 5)), 'bias': rng.normal(0, 0.5, (5,))},
          'dense2': {'kernel': rng.normal(0, 1.2, (5, NUM_CLASSES)),
                     'bias': rng.normal(0, 0.5, (NUM_CLASSES,))}}


def _logits(params, x):
  h = jnp.tanh(x @ params['dense1']['kernel'] + params['dense1']['bias'])
  return h @ params['dense2']['kernel'] + params['dense2']['bias']


def _example_losses(params, batch):
  logits = _logits(params, batch['inputs'])
  logp = jax.nn.log_softmax(logits)
  return -jnp.take_along_axis(logp, batch['targets'][:, None], axis=1)[:, 0]


def tiny_loss_fn(params, batch):
  """(losses, valid): the per-example cross-entropy and the weights mask."""
  return _example_losses(params, batch), batch['weights'] > 0


def _batch(seed=1):
  rng = np.random.default_rng(seed)
  weights = np.ones(B_ALL)
  weights[-1] = 0.0
  return {'inputs': rng.normal(0, 1.5, (B_ALL, 3)),
          'targets': rng.integers(0, NUM_CLASSES, B_ALL).astype(np.int32),
          'weights': weights}


# --- references --------------------------------------------------------------------------


def _reference(params0, params1, params_init, batch):
  """Every quantity's reference value, from explicit loops and dense matrices."""
  valid = batch['weights'] > 0
  idx = np.flatnonzero(valid)
  b = len(idx)
  flat0, unravel = ravel_pytree(params0)
  flat1 = ravel_pytree(params1)[0]
  flat_init = ravel_pytree(params_init)[0]
  dim = flat0.shape[0]

  examples = [{k: v[i:i + 1] for k, v in batch.items()} for i in idx]

  def single(flat, ex):
    return _example_losses(unravel(flat), ex)[0]

  value_and_grad = jax.jit(jax.value_and_grad(single))
  l0, g_i = map(np.array, zip(*[value_and_grad(flat0, ex) for ex in examples], strict=True))  # [B], [B, D]
  l1, g_i1 = map(np.array, zip(*[value_and_grad(flat1, ex) for ex in examples], strict=True))
  g = g_i.mean(0)
  valid_batch = {k: v[idx] for k, v in batch.items()}

  def mean_loss(flat):
    return jnp.mean(_example_losses(unravel(flat), valid_batch))

  hess = np.asarray(jax.jit(jax.hessian(mean_loss))(flat0))
  eigs = np.linalg.eigh(hess)[0]

  ref = {}
  ref['loss'] = l0.mean()
  ref['grad_norm'] = np.linalg.norm(g)
  ref['update_size'] = np.linalg.norm(np.asarray(flat1 - flat0))
  ref['distance'] = np.linalg.norm(np.asarray(flat0 - flat_init))
  # Cockpit's BackPACK form: grad_batch = G_i / B.
  gb = g_i / b
  batch_l2 = (gb**2).sum(1)
  gg = (g**2).sum()
  var_l1 = (b**2 * batch_l2.sum() - b * gg) / (b - 1)
  ref['norm_test'] = math.sqrt(var_l1 / b / gg)
  batch_dot = gb @ gb.T
  proj = b * batch_dot.sum(1)
  var_proj = ((proj**2).sum() - b * gg**2) / (b - 1)
  ref['inner_test'] = math.sqrt(var_proj / b / gg**2)
  var_orth = (b**2 * np.diag(batch_dot).sum() - (proj**2 / gg).sum()) / (b - 1)
  ref['ortho_test'] = math.sqrt(var_orth / b / gg)
  sum_grad_squared = (gb**2).sum(0)
  ref['mean_gsnr'] = np.mean(g**2 / (b * sum_grad_squared - g**2 + 1e-5))
  sgs = b**2 * sum_grad_squared
  diag_var = (sgs - b * g**2) / (b - 1)
  ref['early_stopping'] = 1 - b * np.mean(g**2 / (diag_var + 1e-5))
  ref['cabs'] = LR * (sgs - b * g**2).sum() / (b * l0.mean())
  diag_h = np.diag(hess)
  ref['tic_diag'] = (b * sum_grad_squared / (diag_h + 1e-7)).sum()
  ref['tic_trace'] = (b * sum_grad_squared).sum() / (diag_h.sum() + 1e-7)
  ref['hess_trace'] = np.trace(hess)
  ref['hess_max_ev'] = eigs[-1]
  # Alpha, Cockpit's _fit_quadratic/_get_alpha with explicit projections.
  d = np.asarray(flat1 - flat0)
  t = np.linalg.norm(d)
  if t > 0:
    ref['alpha'] = _reference_alpha(t, d, l0, l1, g_i, g_i1)
  # Histograms (Cockpit: histc of clamped values; 2d clamped to the bin centres).
  ref['grad_hist_1d'] = np.histogram(np.clip(g_i, -2, 2), bins=100, range=(-2, 2))[0]
  xw, yw = 2 / 40, 4 / 50
  x = np.clip(g_i, -1 + xw / 2, 1 - xw / 2)
  y = np.clip(np.broadcast_to(np.asarray(flat0), g_i.shape), -2 + yw / 2, 2 - yw / 2)
  xi = np.floor((x + 1) / xw).astype(int)
  yi = np.floor((y + 2) / yw).astype(int)
  hist2d = np.zeros((40, 50), np.int64)
  np.add.at(hist2d, (xi.ravel(), yi.ravel()), 1)
  ref['grad_hist_2d'] = hist2d
  # Hutchinson's standard error for K Rademacher vectors: Var(vᵀHv) = 2 Σ_{i≠j} H_ij².
  off = hess - np.diag(diag_h)
  ref['hutchinson_sigma'] = math.sqrt(2 * (off**2).sum() / HUTCHINSON)
  ref['hess'] = hess
  ref['g_i'] = g_i
  ref['dim'] = dim
  return ref


def _reference_alpha(t, d, l0, l1, g_i, g_i1):
  """Cockpit's _fit_quadratic and _get_alpha, with explicit per-example projections."""
  p0, p1 = g_i @ d / t, g_i1 @ d / t
  fs, dfs = [l0.mean(), l1.mean()], [p0.mean(), p1.mean()]
  var_fs = [np.var(l0, ddof=1), np.var(l1, ddof=1)]
  var_dfs = [np.var(p0, ddof=1), np.var(p1, ddof=1)]
  phi = np.array([[1, 0, 0], [1, t, t**2], [0, 1, 0], [0, 1, 2 * t]]).T
  lam_inv = np.linalg.inv(np.diag(var_fs + var_dfs))
  mu = np.linalg.inv(phi @ lam_inv @ phi.T) @ phi @ lam_inv @ np.array(fs + dfs)
  return -1.0 if mu[2] < 0 else 2 * t / (-mu[1] / mu[2]) - 1


@pytest.fixture(scope='module')
def tiny():
  """Observations of the tiny model (unchunked and chunked) and their references."""
  with jax.enable_x64(True):
    params_init = _init_params(0)
    params0 = jax.tree.map(lambda a, b: a + 0.3 * b, params_init, _init_params(5))
    batch = _batch()
    grad = jax.grad(lambda p: jnp.mean(_example_losses(p, {k: v[:-1] for k, v in
                                                            batch.items()})))(params0)
    params1 = jax.tree.map(lambda p, g: p - LR * g, params0, grad)
    options = dict(hutchinson_samples=HUTCHINSON, lanczos_steps=64, hess_diag='exact')
    everything = list(quantities.QUANTITIES)
    computer = instruments.Instruments(everything, tiny_loss_fn, **options)
    rng = jax.random.PRNGKey(3)
    obs = computer.observe(params0, params1, params_init, batch, rng, learning_rate=LR)
    dim = ravel_pytree(params0)[0].shape[0]
    # every per-example output: ‖Gᵢ‖², Gᵢ·g, orthogonal parts, moments, both histograms
    per_example = ['norm_test', 'inner_test', 'ortho_test', 'grad_hist_1d', 'grad_hist_2d',
                   'mean_gsnr', 'early_stopping', 'cabs']
    chunked = instruments.Instruments(per_example, tiny_loss_fn, max_chunk_bytes=4 * dim * 8)
    obs_chunked = chunked.observe(params0, params1, params_init, batch, rng,
                                  learning_rate=LR)
    obs_zero_step = computer.observe(params0, params0, params_init, batch, rng,
                                     learning_rate=None)
    cabs_only = instruments.Instruments('cabs', tiny_loss_fn)
    obs_no_rate = cabs_only.observe(params0, params1, params_init, batch, rng)
    ref = _reference(params0, params1, params_init, batch)
  return {'obs': obs, 'chunked': obs_chunked, 'zero_step': obs_zero_step, 'ref': ref,
          'computer': computer, 'chunked_computer': chunked, 'no_rate': obs_no_rate}


EXACT = ['loss', 'grad_norm', 'update_size', 'distance', 'alpha', 'norm_test', 'inner_test',
         'ortho_test', 'mean_gsnr', 'early_stopping', 'cabs', 'tic_diag', 'tic_trace',
         'hess_max_ev']


@pytest.mark.parametrize('name', EXACT)
def test_quantity_matches_reference(tiny, name):
  assert tiny['obs'].scalars[name] == pytest.approx(tiny['ref'][name], rel=1e-8, abs=1e-12)


def test_every_quantity_is_reported(tiny):
  scalars = set(tiny['obs'].scalars)
  assert scalars == {n for n, q in quantities.QUANTITIES.items() if not q.histogram}
  assert not tiny['obs'].notes
  assert {'grad_hist_1d', 'grad_hist_2d', 'grad_hist_1d_edges', 'grad_hist_2d_x_edges',
          'grad_hist_2d_y_edges', 'grad_norm_layers', 'update_size_layers',
          'distance_layers', 'hess_trace_layers'} <= set(tiny['obs'].arrays)


def test_alpha_is_informative(tiny):
  """The tiny step is a real test of the fit: a convex fit, not the −1 sentinel."""
  assert tiny['ref']['alpha'] != -1.0
  assert -1.0 < tiny['obs'].scalars['alpha'] < 5.0


def test_hess_trace_hutchinson_within_statistical_tolerance(tiny):
  ref = tiny['ref']
  assert abs(tiny['obs'].scalars['hess_trace'] - ref['hess_trace']) < 4 * ref['hutchinson_sigma']
  # the per-tensor estimates add up to the total
  np.testing.assert_allclose(tiny['obs'].arrays['hess_trace_layers'].sum(),
                             tiny['obs'].scalars['hess_trace'], rtol=1e-12)


def test_per_layer_norms(tiny):
  obs, computer = tiny['obs'], tiny['computer']
  assert computer.param_names == ["['dense1']['bias']", "['dense1']['kernel']",
                                  "['dense2']['bias']", "['dense2']['kernel']"]
  layers = obs.arrays['grad_norm_layers']
  assert layers.shape == (4,)
  assert np.sqrt(np.sum(layers**2)) == pytest.approx(obs.scalars['grad_norm'], rel=1e-12)
  g = tiny['ref']['g_i'].mean(0)  # flattened in the same leaf order: bias(5), kernel(15), ...
  assert layers[1] == pytest.approx(np.linalg.norm(g[5:20]), rel=1e-10)


def test_histograms_match_reference(tiny):
  obs, ref = tiny['obs'], tiny['ref']
  np.testing.assert_array_equal(obs.arrays['grad_hist_1d'], ref['grad_hist_1d'])
  np.testing.assert_array_equal(obs.arrays['grad_hist_2d'], ref['grad_hist_2d'])
  assert obs.arrays['grad_hist_1d'].sum() == 8 * ref['dim']  # valid examples × params
  np.testing.assert_allclose(obs.arrays['grad_hist_1d_edges'], np.linspace(-2, 2, 101))
  assert obs.arrays['grad_hist_2d'].shape == (40, 50)
  # the test data exercise the clamping: some gradient entries lie outside [-1, 1]
  assert np.abs(ref['g_i']).max() > 1


def test_chunked_equals_unchunked(tiny):
  assert tiny['chunked_computer']._plans and all(
      p.chunk_size == 4 for p in tiny['chunked_computer']._plans.values())
  a, b = tiny['obs'], tiny['chunked']
  assert set(b.scalars) == {'norm_test', 'inner_test', 'ortho_test', 'mean_gsnr',
                            'early_stopping', 'cabs'}
  for name, value in b.scalars.items():
    assert value == pytest.approx(a.scalars[name], rel=1e-10, abs=1e-14), name
  assert set(b.arrays) == {'grad_hist_1d', 'grad_hist_1d_edges', 'grad_hist_2d',
                           'grad_hist_2d_x_edges', 'grad_hist_2d_y_edges'}
  for name, value in b.arrays.items():
    np.testing.assert_array_equal(value, a.arrays[name], err_msg=name)


def test_zero_update_and_missing_learning_rate_are_nan_with_notes(tiny):
  obs = tiny['zero_step']
  assert math.isnan(obs.scalars['alpha']) and 'zero' in obs.notes['alpha']
  assert math.isnan(obs.scalars['cabs']) and 'learning rate' in obs.notes['cabs']
  assert obs.scalars['update_size'] == 0.0
  assert obs.scalars['loss'] == pytest.approx(tiny['ref']['loss'], rel=1e-12)


def test_cabs_without_a_rate_uses_the_steps_effective_rate(tiny):
  # params1 is a plain SGD step θ₀ − η g: its effective rate ‖Δθ‖/‖g‖ is η itself.
  obs = tiny['no_rate']
  assert not obs.notes
  assert obs.scalars['cabs'] == pytest.approx(tiny['ref']['cabs'], rel=1e-9)


def test_alpha_fit_cases():
  # A parabola f(τ) = (τ − 1)² observed exactly at 0 and t: α = 2t/ᾱ − 1 with ᾱ = 2.
  for t in (0.5, 1.0, 2.0, 3.0):
    fs, dfs = [1.0, (t - 1) ** 2], [-2.0, 2 * (t - 1)]
    assert quantities.alpha_from_fit(t, fs, dfs, [1.0, 1.0], [1.0, 1.0]) == pytest.approx(
        t - 1, abs=1e-12)
  # concave: −1 (Cockpit's convention)
  assert quantities.alpha_from_fit(1.0, [0.0, -1.0], [-0.5, -1.5], [1, 1], [1, 1]) == -1.0
  # zero variances are replaced by 1e-10, not a division by zero
  assert math.isfinite(quantities.alpha_from_fit(1.0, [1.0, 0.0], [-2.0, 0.0], [0, 0], [0, 0]))


def test_method_and_forward_notes(tiny):
  note = tiny['computer'].method_note
  assert f'Hutchinson, {HUTCHINSON}' in note and 'Lanczos' in note and 'exact' in note
  assert 'must not couple' in tiny['computer'].forward_mode_note
  meta = tiny['computer'].describe()
  assert meta['num_params'] == tiny['ref']['dim'] and meta['quantities'][0] == 'loss'
