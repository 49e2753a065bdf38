"""The few Optax names the reference algorithms use that AlgoPerf v0.6's pinned Optax lacks.

AlgoPerf v0.6 pins optax 0.2.2 (constraints/algoperf-v0.6.txt, docs/environments.md),
which has no `optax.tree` namespace, no `optax.safe_increment`, no schedule as
`add_decayed_weights`'s rate and no `eps_in_sqrt` flag on `rmsprop`. Each function here
is Optax's own where the installed Optax has it, so on current Optax the baselines run
exactly Optax's code, and otherwise a transcription of what current Optax computes.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

_TREE = getattr(optax, 'tree', None)  # optax >= 0.2.5
# optax < 0.2.3 always adds eps inside the square root, which is what eps_in_sqrt=True asks.
RMSPROP_EPS_IN_SQRT = ({'eps_in_sqrt': True}
                       if 'eps_in_sqrt' in inspect.signature(optax.rmsprop).parameters else {})


def _decay_takes_schedule() -> bool:
  try:
    return 'callable(weight_decay)' in inspect.getsource(optax.add_decayed_weights)
  except (OSError, TypeError):
    return False


DECAY_TAKES_SCHEDULE = _decay_takes_schedule()  # optax >= 0.2.3


def tree_norm(tree):
  """optax.tree.norm: the global L2 norm of a pytree."""
  if _TREE is not None:
    return _TREE.norm(tree)
  return optax.tree_utils.tree_l2_norm(tree)


def tree_zeros_like(tree):
  if _TREE is not None:
    return _TREE.zeros_like(tree)
  return optax.tree_utils.tree_zeros_like(tree)


def update_moment(updates, moments, decay, order):
  """optax.tree.update_moment: (1 - decay)·g^order + decay·m per leaf."""
  if _TREE is not None:
    return _TREE.update_moment(updates, moments, decay, order)
  return jax.tree.map(lambda g, t: (1 - decay) * (g**order) + decay * t, updates, moments)


def update_moment_per_elem_norm(updates, moments, decay, order):
  """optax.tree.update_moment_per_elem_norm: the EMA of |g|^order per element."""
  if _TREE is not None:
    return _TREE.update_moment_per_elem_norm(updates, moments, decay, order)

  def orderth_norm(g):
    if jnp.isrealobj(g):
      return g**order
    half_order = order / 2
    half_order = int(half_order) if float(half_order).is_integer() else half_order
    return (g.real**2 + g.imag**2)**half_order

  return jax.tree.map(lambda g, t: (1 - decay) * orderth_norm(g) + decay * t,
                      updates, moments)


def safe_increment(count):
  """optax.safe_increment: count + 1, saturating at the dtype's maximum."""
  if hasattr(optax, 'safe_increment'):
    return optax.safe_increment(count)
  return optax.safe_int32_increment(count)


class WeightDecaySchedule(NamedTuple):
  count: jax.Array


def add_decayed_weights(weight_decay: optax.ScalarOrSchedule) -> optax.GradientTransformation:
  """optax.add_decayed_weights, whose rate may be a schedule of the step count."""
  if not callable(weight_decay) or DECAY_TAKES_SCHEDULE:
    return optax.add_decayed_weights(weight_decay)

  def init_fn(params):
    del params
    return WeightDecaySchedule(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params):
    if params is None:
      raise ValueError(optax.NO_PARAMS_MSG)
    rate = weight_decay(state.count)
    updates = jax.tree.map(lambda g, p: g + rate * p, updates, params)
    return updates, WeightDecaySchedule(safe_increment(state.count))

  return optax.GradientTransformation(init_fn, update_fn)
