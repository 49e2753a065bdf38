"""Each playbook baseline against a direct NumPy transcription of docs/update_rules.md.

The optimizer comes from the baseline's own `build_optimizer` (schedule included) and is
fed random gradients; the NumPy side recomputes warmup+cosine η_t by hand, in float64.
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
import refalg_testlib as lib  # noqa: E402

from reference_algorithms.common import hparams, transforms  # noqa: E402

STEP_HINT = 12
WARMUP_FACTOR = 0.25  # 3 warmup steps, then a 9-step cosine
NUM_STEPS = 8
PEAK = 0.1
GAMMA, RHO, B1, B2 = 0.9, 0.95, 0.8, 0.9
EPS = 1e-3  # large enough that where ε sits changes the numbers


def lr(t):
  warmup = int(WARMUP_FACTOR * STEP_HINT)
  if t < warmup:
    return PEAK * t / warmup
  return PEAK * 0.5 * (1 + math.cos(math.pi * (t - warmup) / (STEP_HINT - warmup)))


def _shapes():
  return {'w': (3, 4), 'b': (4,)}


def _random_grads(seed):
  rng = np.random.default_rng(seed)
  return [{k: rng.normal(size=s) for k, s in _shapes().items()} for _ in range(NUM_STEPS)]


def _hp(**extra):
  values = dict(learning_rate=PEAK, warmup_factor=WARMUP_FACTOR, one_minus_beta1=1 - B1,
                beta2=B2, epsilon=EPS)
  values.update(extra)
  return hparams.resolve(values, {'weight_decay': 0.0})


# --- NumPy transcriptions, one parameter array at a time -------------------------------


def np_sgd(theta, grads):
  for t, g in enumerate(grads):
    theta = theta - lr(t) * g
  return theta


def np_momentum(theta, grads, gamma):
  v = np.zeros_like(theta)
  for t, g in enumerate(grads):
    v = gamma * v + g
    theta = theta - lr(t) * v
  return theta


def np_nesterov(theta, grads, gamma):
  v = np.zeros_like(theta)
  for t, g in enumerate(grads):
    v = gamma * v + g
    theta = theta - lr(t) * (gamma * v + g)
  return theta


def np_rmsprop(theta, grads, rho, gamma, eps):
  v, m = np.ones_like(theta), np.zeros_like(theta)
  for t, g in enumerate(grads):
    v = rho * v + (1 - rho) * g**2
    m = gamma * m + lr(t) / np.sqrt(v + eps) * g
    theta = theta - m
  return theta


def np_adam(theta, grads, b1, b2, eps, nesterov=False):
  m, v = np.zeros_like(theta), np.zeros_like(theta)
  for t, g in enumerate(grads):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    b = math.sqrt(1 - b2**(t + 1)) / (1 - b1**(t + 1))
    numerator = b1 * m + (1 - b1) * g if nesterov else m
    theta = theta - lr(t) * numerator / (np.sqrt(v) + eps) * b
  return theta


CASES = {
    'sgd': np_sgd,
    'momentum': lambda th, gs: np_momentum(th, gs, B1),
    'nesterov': lambda th, gs: np_nesterov(th, gs, B1),
    'rmsprop': lambda th, gs: np_rmsprop(th, gs, B2, B1, EPS),
    'adam': lambda th, gs: np_adam(th, gs, B1, B2, EPS),
    'nadam': lambda th, gs: np_adam(th, gs, B1, B2, EPS, nesterov=True),
}


@pytest.mark.parametrize('name', sorted(CASES))
@pytest.mark.parametrize('seed', [0, 1])
def test_rule_matches_numpy_transcription(name, seed):
  grads = _random_grads(seed)
  theta0 = {k: np.random.default_rng(100 + seed).normal(size=s) for k, s in _shapes().items()}
  tx = lib.load(name).build_optimizer(_hp(), STEP_HINT)
  got, _ = lib.run_optax(tx, grads, theta0)
  for key in theta0:
    want = CASES[name](theta0[key], [g[key] for g in grads])
    moved = np.abs(want - theta0[key]).max()
    assert moved > 0.05  # the comparison is not vacuous
    np.testing.assert_allclose(got[key], want, rtol=2e-5, atol=2e-6)


def test_playbook_adam_differs_from_optax_adam_where_documented():
  # Step 1: the playbook divides by sqrt(v) + ε, Optax by sqrt(v) + ε·sqrt(1 - β2).
  g = {'w': np.full((2,), 0.01)}
  params = {'w': jnp.zeros((2,))}
  ours = transforms.scale_by_playbook_adam(B1, B2, EPS)
  theirs = optax.scale_by_adam(B1, B2, EPS)
  ours_step = ours.update(g, ours.init(params))[0]['w'][0]
  theirs_step = theirs.update(g, theirs.init(params))[0]['w'][0]
  b = math.sqrt(1 - B2) / (1 - B1)
  m, v = (1 - B1) * 0.01, (1 - B2) * 1e-4
  assert float(ours_step) == pytest.approx(b * m / (math.sqrt(v) + EPS), rel=1e-5)
  assert float(theirs_step) == pytest.approx(b * m / (math.sqrt(v) + EPS * math.sqrt(1 - B2)),
                                             rel=1e-5)
  assert abs(float(ours_step) - float(theirs_step)) > 0.1 * abs(float(theirs_step))


def test_weight_decay_is_decoupled_and_scaled_by_the_learning_rate():
  wd = 0.3
  grads = _random_grads(3)
  theta0 = {k: np.random.default_rng(7).normal(size=s) for k, s in _shapes().items()}
  tx = lib.load('momentum').build_optimizer(_hp(weight_decay=wd), STEP_HINT)
  got, _ = lib.run_optax(tx, grads, theta0)
  for key in theta0:
    theta, v = theta0[key], np.zeros_like(theta0[key])
    for t, g in enumerate(g[key] for g in grads):
      v = B1 * v + g  # decay stays out of the momentum buffer
      theta = theta - lr(t) * v - lr(t) * wd * theta
    np.testing.assert_allclose(got[key], theta, rtol=2e-5, atol=2e-6)
