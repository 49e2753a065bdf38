"""Optax gradient transformations for rules Optax does not implement exactly as needed."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from reference_algorithms.common import optax_compat


def scale_by_playbook_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                           nesterov: bool = False) -> optax.GradientTransformation:
  """Adam / NAdam direction as the Tuning Playbook writes it (no learning rate, no sign).

  Returns b_t · m / (sqrt(v) + eps) with the single bias factor
  b_t = sqrt(1 - b2^t) / (1 - b1^t), or with m replaced by b1·m + (1 - b1)·g (NAdam).
  `optax.scale_by_adam` differs: it bias-corrects v before adding eps, i.e. its eps is
  the playbook's eps · sqrt(1 - b2^t), and its Nesterov term is corrected separately.
  The state is Optax's `ScaleByAdamState`, so Optax tree utilities recognise it.
  """

  def init_fn(params):
    return optax.ScaleByAdamState(
        count=jnp.zeros([], jnp.int32), mu=optax_compat.tree_zeros_like(params),
        nu=optax_compat.tree_zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    mu = optax_compat.update_moment(updates, state.mu, b1, 1)
    nu = optax_compat.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count = optax_compat.safe_increment(state.count)
    t = count.astype(jnp.float32)
    bias = jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
    numerator = optax_compat.update_moment(updates, mu, b1, 1) if nesterov else mu
    direction = jax.tree.map(
        lambda m, v: (bias * m / (jnp.sqrt(v) + eps)).astype(m.dtype), numerator, nu)
    return direction, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)


def decoupled_weight_decay(tx: optax.GradientTransformation, weight_decay: float,
                           learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
  """Follow `tx` (a full step, sign included) by θ ← θ - η_t·λ·θ, outside the update rule.

  Scaling by the learning rate matches optax.adamw / AlgoPerf's convention; applying it
  after `tx` keeps the rule itself untouched (the playbook's rules exclude weight decay).
  """
  if not weight_decay:
    return tx
  def rate(count):
    eta = learning_rate(count) if callable(learning_rate) else learning_rate
    return -weight_decay * eta
  return optax.chain(tx, optax_compat.add_decayed_weights(rate))
