"""What SWA, FGE and snapshot ensembles keep of the training trajectory.

A `Tracker` is to the trajectory what an Optax `GradientTransformation` is to gradients:
`init(params, model_state)` gives its state, a NamedTuple of arrays whose structure never
changes (checkpoint restore rebuilds it from `init`), and `update(state, params,
model_state)` folds in the point each train step produced; the train step runs it inside
its jitted step. A point is taken only at the steps `due(step)` names, under `lax.cond`,
so the other steps leave the buffers alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from algoperf import spec
from reference_algorithms.common import optax_compat

Due = Callable[[jax.Array], jax.Array]  # update index (0-based) -> take this point?


class Tracker(NamedTuple):
  init: Callable[[Any, Any], Any]
  update: Callable[[Any, Any, Any], Any]


class AverageState(NamedTuple):
  step: jax.Array   # updates seen so far
  count: jax.Array  # points averaged so far
  mean: Any         # their mean params (zeros until the first)


def running_average(due: Due) -> Tracker:
  """The equal-weight mean of the params at the steps `due` names (SWA's average), kept
  incrementally: mean ← mean + (θ - mean)/(n + 1), i.e. `optax.incremental_update`."""

  def init(params, model_state):
    del model_state
    zero = jnp.zeros([], jnp.int32)
    return AverageState(zero, zero, optax_compat.tree_zeros_like(params))

  def update(state, params, model_state):
    del model_state
    take = due(state.step)

    def include(mean):
      return optax.incremental_update(params, mean, 1.0 / (state.count + 1).astype(jnp.float32))

    mean = jax.lax.cond(take, include, lambda mean: mean, state.mean)
    return AverageState(optax_compat.safe_increment(state.step),
                        state.count + take.astype(jnp.int32), mean)

  return Tracker(init, update)


class SnapshotState(NamedTuple):
  step: jax.Array   # updates seen so far
  count: jax.Array  # snapshots taken so far (also those since overwritten)
  params: Any       # `capacity` params, stacked on a leading axis; slot = snapshot % capacity
  model_state: Any  # their model states, stacked the same way


def snapshot_ring(capacity: int, due: Due) -> Tracker:
  """The last `capacity` points (params and model state) at the steps `due` names: a ring
  buffer of fixed size, the newest overwriting the oldest."""
  if capacity < 1:
    raise ValueError(f'a snapshot ensemble needs at least one member, got {capacity}')

  def stacked_zeros(tree):
    return jax.tree.map(lambda x: jnp.zeros((capacity, *x.shape), x.dtype), tree)

  def init(params, model_state):
    zero = jnp.zeros([], jnp.int32)
    return SnapshotState(zero, zero, stacked_zeros(params), stacked_zeros(model_state))

  def update(state, params, model_state):
    take = due(state.step)
    slot = state.count % capacity

    def store(buffers):
      return jax.tree.map(lambda buffer, x: buffer.at[slot].set(x), buffers,
                          (params, model_state))

    buffers = jax.lax.cond(take, store, lambda buffers: buffers,
                           (state.params, state.model_state))
    return SnapshotState(optax_compat.safe_increment(state.step),
                         state.count + take.astype(jnp.int32), *buffers)

  return Tracker(init, update)


def member_slots(count: int, capacity: int) -> np.ndarray:
  """Ring slots of the kept snapshots, oldest first (the newest last)."""
  kept = min(count, capacity)
  return (np.arange(count - kept, count) % capacity).astype(np.int32)


@jax.jit
def _gather(buffers, slots):
  # A gather writes new buffers: the ensemble never aliases the state's ring, which the
  # next train step donates.
  return jax.tree.map(lambda buffer: jnp.take(buffer, slots, axis=0), buffers)


def snapshot_ensemble(state: SnapshotState, capacity: int) -> spec.Ensemble | None:
  """The kept snapshots as an ensemble, newest last; None before the first snapshot.

  Reads the snapshot count on the host: a device sync, billed to `prepare_for_eval`."""
  count = int(state.count)
  if count == 0:
    return None
  params, model_state = _gather((state.params, state.model_state),
                                member_slots(count, capacity))
  return spec.Ensemble(params, model_state)
