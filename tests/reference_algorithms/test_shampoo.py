"""Shampoo: the Optax transformation against a NumPy transcription, its fallback path, and
training runs through the submission API.

The NumPy side recomputes warmup+cosine η_t by hand and the preconditioners in float64.
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
import refalg_testlib as lib  # noqa: E402

from reference_algorithms.common import hparams, shampoo  # noqa: E402
from workloads.noisy_quadratic.workload import NoisyQuadraticWorkload  # noqa: E402

STEP_HINT = 12
WARMUP_FACTOR = 0.25  # 3 warmup steps, then a 9-step cosine
NUM_STEPS = 8
PEAK = 0.1
B1, B2, EPS = 0.8, 0.9, 1e-8
EVERY = 3  # preconditioners refreshed at steps 2 and 5; steps 0 and 1 follow the graft
MATRIX_EPS = 1e-2  # keeps float32 eigh close to float64 for the comparison
WD = 0.1


def lr(t):
  warmup = int(WARMUP_FACTOR * STEP_HINT)
  if t < warmup:
    return PEAK * t / warmup
  return PEAK * 0.5 * (1 + math.cos(math.pi * (t - warmup) / (STEP_HINT - warmup)))


def _hp(**extra):
  values = dict(learning_rate=PEAK, warmup_factor=WARMUP_FACTOR, one_minus_beta1=1 - B1,
                beta2=B2, weight_decay=WD, precondition_every=EVERY,
                matrix_epsilon=MATRIX_EPS)
  values.update(extra)
  return hparams.resolve(values, lib.load('shampoo').DEFAULTS)


def np_inverse_fourth_root(stat, matrix_eps):
  w, v = np.linalg.eigh(stat)
  w = np.maximum(w, 0.0)
  return (v * (w + matrix_eps * max(w[-1], 1e-30)) ** -0.25) @ v.T


def np_shampoo(theta, grads, graft='adam'):
  """One parameter through grafted Shampoo + decoupled weight decay, in float64."""
  matrix = theta.ndim == 2
  m, v = np.zeros_like(theta), np.zeros_like(theta)
  if matrix:
    left, right = np.zeros((theta.shape[0],) * 2), np.zeros((theta.shape[1],) * 2)
    p_left, p_right = np.eye(theta.shape[0]), np.eye(theta.shape[1])
  for t, g in enumerate(grads):
    m = B1 * m + (1 - B1) * g
    v = B2 * v + (1 - B2) * g**2
    m_hat, v_hat = m / (1 - B1**(t + 1)), v / (1 - B2**(t + 1))
    direction = m_hat / (np.sqrt(v_hat) + EPS) if graft == 'adam' else m_hat
    if matrix:
      left, right = B2 * left + g @ g.T, B2 * right + g.T @ g
      if (t + 1) % EVERY == 0:
        p_left = np_inverse_fourth_root(left, MATRIX_EPS)
        p_right = np_inverse_fourth_root(right, MATRIX_EPS)
      if t + 1 >= EVERY:
        s = p_left @ m_hat @ p_right
        direction = s * np.linalg.norm(direction) / np.linalg.norm(s)
    theta = theta - lr(t) * direction - lr(t) * WD * theta
  return theta


def _problem(seed, shapes):
  rng = np.random.default_rng(seed)
  grads = [{k: rng.normal(size=s) for k, s in shapes.items()} for _ in range(NUM_STEPS)]
  theta0 = {k: rng.normal(size=s) for k, s in shapes.items()}
  return grads, theta0


@pytest.mark.parametrize('graft', ['adam', 'sgd'])
@pytest.mark.parametrize('seed', [0, 1])
def test_matches_numpy_transcription(graft, seed):
  grads, theta0 = _problem(seed, {'w': (3, 4), 'b': (4,)})
  tx = lib.load('shampoo').build_optimizer(_hp(graft=graft), STEP_HINT)
  got, _ = lib.run_optax(tx, grads, theta0)
  for key in theta0:
    want = np_shampoo(theta0[key], [g[key] for g in grads], graft)
    assert np.abs(want - theta0[key]).max() > 0.05  # the comparison is not vacuous
    np.testing.assert_allclose(got[key], want, rtol=1e-4, atol=1e-5)


def test_preconditioning_changes_the_step():
  # Against plain grafting (direction = a): the Kronecker factors rotate the step.
  grads, theta0 = _problem(2, {'w': (3, 4)})
  tx = lib.load('shampoo').build_optimizer(_hp(), STEP_HINT)
  got, _ = lib.run_optax(tx, grads, theta0)
  adam_like = lib.load('shampoo').build_optimizer(_hp(max_preconditioner_dim=2), STEP_HINT)
  fallback, _ = lib.run_optax(adam_like, grads, theta0)
  assert np.abs(got['w'] - fallback['w']).max() > 1e-2


def test_non_matrix_params_take_the_adam_fallback():
  shapes = {'vector': (5,), 'scalar': (), 'tall': (40, 3), 'conv': (2, 2, 3, 4)}
  grads, theta0 = _problem(3, shapes)
  tx = shampoo.scale_by_shampoo(b1=B1, b2=B2, eps=EPS, precondition_every=2,
                                max_preconditioner_dim=32)
  params = jax.tree.map(jnp.asarray, theta0)
  state = tx.init(params)
  leaf_states = dict(zip(sorted(shapes), state.leaves, strict=True))  # dicts flatten sorted
  assert leaf_states['vector'].stats == () and leaf_states['scalar'].stats == ()
  assert leaf_states['tall'].stats == ()  # 40 rows exceed the size limit
  assert [s.shape for s in leaf_states['conv'].stats] == [(12, 12), (4, 4)]  # 2*2*3 x 4

  adam = optax.scale_by_adam(b1=B1, b2=B2, eps=EPS)
  adam_state = adam.init(params)
  ours_update, theirs_update = jax.jit(tx.update), jax.jit(adam.update)
  for step, g in enumerate(grads):
    g = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g)
    ours, state = ours_update(g, state)
    theirs, adam_state = theirs_update(g, adam_state)
    # Matrices follow the graft until their first preconditioner refresh (after step 1).
    for key in ('vector', 'scalar', 'tall') + (('conv',) if step == 0 else ()):
      np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-7)
  assert np.abs(np.asarray(ours['conv']) - np.asarray(theirs['conv'])).max() > 1e-3


def test_zero_gradient_gives_a_zero_finite_step():
  tx = shampoo.scale_by_shampoo()
  params = {'w': jnp.ones((3, 4))}
  updates, _ = tx.update({'w': jnp.zeros((3, 4))}, tx.init(params))
  np.testing.assert_array_equal(np.asarray(updates['w']), 0.0)


def test_rejects_unknown_graft():
  with pytest.raises(ValueError, match='graft'):
    shampoo.scale_by_shampoo(graft='adagrad')


def test_trains_toy_workload_with_sgd_grafting_and_every_step_refresh():
  workload = lib.ToyRegressionWorkload(step_hint=150)
  before = lib.initial_validation_loss(workload)
  hp = lib.adam_like(learning_rate=0.5, warmup_factor=0.05, precondition_every=1,
                     graft='sgd')
  opt_state, params, model_state = lib.run_trial(lib.load('shampoo'), workload, hp,
                                                 num_steps=150)
  kernel_state = opt_state[0][0].leaves[1]  # 'dense': bias, kernel (flatten order)
  assert [s.shape for s in kernel_state.stats] == [(8, 8), (1, 1)]
  assert lib.validation_loss(workload, params, model_state) < before / 20


def test_trains_noisy_quadratic():
  workload = NoisyQuadraticWorkload()
  before = lib.initial_validation_loss(workload)
  hp = lib.adam_like(learning_rate=0.03, warmup_factor=0.0)
  _, params, model_state = lib.run_trial(lib.load('shampoo'), workload, hp, num_steps=100,
                                         batch_size=128)
  after = lib.validation_loss(workload, params, model_state)
  assert after < before - 0.5 * (before - workload.expected_optimal_loss)
