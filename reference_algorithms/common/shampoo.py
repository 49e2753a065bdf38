"""Shampoo (Gupta et al., 2018) with Adam grafting, as one Optax transformation.

Why it is written here: no maintained JAX Shampoo runs on this project's JAX (0.10).
Optax 0.2.8 has none (not in `optax.contrib` either). Google's `distributed_shampoo` on
PyPI, `precondition-opt` 0.3.0 (March 2023, the latest release) and `optax-shampoo`
0.0.6, calls `jax.tree_map` (removed in JAX 0.6) from `init`, so it cannot be avoided by
how it is called, and it imports `chex` without declaring it; `optax-shampoo` also fails
a `lax.while_loop` carry-dtype check under current JAX. Copying and patching either
would mean maintaining a 3,500-line fork, so this module implements the plain algorithm.

Per parameter leaf, with g the gradient and t the step (1-based):
  m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²,   m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
  graft a = m̂ / (√v̂ + ε)      ('adam')   or   a = m̂   ('sgd')
Leaves with ≥ 2 dims are read as a matrix G (rows = all leading dims, cols = last dim).
When both sides are ≤ `max_preconditioner_dim`:
  L ← β₂ L + G Gᵀ,   R ← β₂ R + Gᵀ G        (β₂ = 1: Shampoo's plain sums)
  once every k = `precondition_every` gradients (at 0-based steps k−1, 2k−1, …):
    P_L = (L + δ_L I)^(-1/4),  P_R = (R + δ_R I)^(-1/4)   via eigh, δ = `matrix_epsilon`·λ_max
  s = P_L M̂ P_R   (M̂: m̂ as a matrix),   direction = s · ‖a‖ / ‖s‖   (layer-wise grafting)
  Before the first refresh the direction is a: roots of one or two rank-deficient
  outer products would blow up every direction the first gradients did not span.
Other leaves (vectors, scalars, matrices above the size limit) take the graft a itself,
so with 'adam' grafting they follow Adam exactly. Learning rate, sign and weight decay
are chained after this transformation by the caller. The damping is relative to the
largest eigenvalue, so the scale of L and R (sum or average) does not matter: grafting
sets the step's norm.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from reference_algorithms.common import optax_compat

GRAFTS = ('adam', 'sgd')
_TINY = 1e-30  # Keeps a zero statistic's damping positive.


class LeafState(NamedTuple):
  """One parameter's state; `stats`/`roots` are () on the fallback path."""
  mu: jax.Array
  nu: jax.Array
  stats: tuple  # (L, R)
  roots: tuple  # (P_L, P_R)


class ShampooState(NamedTuple):
  count: jax.Array  # Updates done so far.
  leaves: tuple  # One LeafState per parameter leaf, in tree-flatten order.


def matrix_shape(shape: tuple[int, ...], max_dim: int) -> tuple[int, int] | None:
  """(rows, cols) a leaf is preconditioned as, or None for the diagonal fallback."""
  if len(shape) < 2:
    return None
  rows, cols = math.prod(shape[:-1]), shape[-1]
  if max(rows, cols) > max_dim:
    return None
  return rows, cols


def inverse_fourth_root(stat: jax.Array, matrix_epsilon: float) -> jax.Array:
  """(S + δ I)^(-1/4) of a symmetric PSD S via eigh, δ = matrix_epsilon · λ_max(S)."""
  eigenvalues, eigenvectors = jnp.linalg.eigh(stat)
  eigenvalues = jnp.maximum(eigenvalues, 0.0)  # Rounding can make tiny ones negative.
  damping = matrix_epsilon * jnp.maximum(eigenvalues[-1], _TINY)
  return (eigenvectors * (eigenvalues + damping) ** -0.25) @ eigenvectors.T


def scale_by_shampoo(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                     precondition_every: int = 100, matrix_epsilon: float = 1e-6,
                     max_preconditioner_dim: int = 1024,
                     graft: str = 'adam') -> optax.GradientTransformation:
  """The grafted Shampoo direction (no learning rate, no sign); see the module docstring."""
  if graft not in GRAFTS:
    raise ValueError(f'graft must be one of {GRAFTS}, got {graft!r}.')
  if precondition_every < 1:
    raise ValueError(f'precondition_every must be >= 1, got {precondition_every}.')

  def init_leaf(param) -> LeafState:
    zeros = jnp.zeros(param.shape, jnp.float32)
    shape = matrix_shape(param.shape, max_preconditioner_dim)
    if shape is None:
      return LeafState(zeros, zeros, (), ())
    rows, cols = shape
    stats = (jnp.zeros((rows, rows), jnp.float32), jnp.zeros((cols, cols), jnp.float32))
    roots = (jnp.eye(rows, dtype=jnp.float32), jnp.eye(cols, dtype=jnp.float32))
    return LeafState(zeros, jnp.zeros_like(zeros), stats, roots)

  def init_fn(params) -> ShampooState:
    return ShampooState(count=jnp.zeros([], jnp.int32),
                        leaves=tuple(init_leaf(p) for p in jax.tree.leaves(params)))

  def update_leaf(g, state: LeafState, t, refresh, preconditioned):
    g = g.astype(jnp.float32)
    mu = b1 * state.mu + (1.0 - b1) * g
    nu = b2 * state.nu + (1.0 - b2) * g * g
    mu_hat = mu / (1.0 - b1**t)
    nu_hat = nu / (1.0 - b2**t)
    direction = mu_hat / (jnp.sqrt(nu_hat) + eps) if graft == 'adam' else mu_hat
    if not state.stats:
      return direction, LeafState(mu, nu, (), ())
    left, right = state.stats
    rows, cols = left.shape[0], right.shape[0]
    g2 = g.reshape(rows, cols)
    stats = (b2 * left + g2 @ g2.T, b2 * right + g2.T @ g2)
    roots = jax.lax.cond(
        refresh,
        lambda: tuple(inverse_fourth_root(s, matrix_epsilon) for s in stats),
        lambda: state.roots)
    shampoo = (roots[0] @ mu_hat.reshape(rows, cols) @ roots[1]).reshape(g.shape)
    shampoo_norm = jnp.linalg.norm(shampoo)
    nonzero = shampoo_norm > 0
    scale = jnp.linalg.norm(direction) / jnp.where(nonzero, shampoo_norm, 1.0)
    grafted = jnp.where(nonzero & preconditioned, shampoo * scale, direction)
    return grafted, LeafState(mu, nu, stats, roots)

  def update_fn(updates, state: ShampooState, params=None):
    del params
    leaves, treedef = jax.tree.flatten(updates)
    t = (state.count + 1).astype(jnp.float32)
    refresh = (state.count + 1) % precondition_every == 0
    preconditioned = state.count + 1 >= precondition_every
    results = [update_leaf(g, s, t, refresh, preconditioned)
               for g, s in zip(leaves, state.leaves, strict=True)]
    directions = [d.astype(g.dtype) for (d, _), g in zip(results, leaves, strict=True)]
    new_state = ShampooState(count=optax_compat.safe_increment(state.count),
                             leaves=tuple(s for _, s in results))
    return jax.tree.unflatten(treedef, directions), new_state

  return optax.GradientTransformation(init_fn, update_fn)
