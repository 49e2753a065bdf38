"""Batch-norm statistics for weights that were never trained as such (SWA's average).

The running statistics in the model state belong to the training point; averaged weights
need their own (Izmailov et al. 2018; torch's `update_bn`): one forward pass in training
mode per batch, and the mean of the per-batch statistics. The batches are the last train
batches the submission saw (`RecentBatches`), and the passes run in `prepare_for_eval`,
so their time is billed.

Only the public `workload.model_fn` is used. It returns the state after an EMA update
s' = m·s + (1 - m)·b with the batch's own statistic b. Run from s = 0 that is (1 - m)·b,
and from s = 1 it is m + (1 - m)·b: one extra pass gives m, exactly the momentum the
workload uses, whatever it is. Leaves that are no such average (an integer counter,
m = 1) keep their value.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from algoperf import spec

# Below this weight (1 - m) of a new batch a leaf is no running average of batch statistics.
_MIN_BATCH_WEIGHT = 1e-6


class RecentBatches:
  """The last `capacity` train batches, newest last: references to batches the step already
  holds, no copies. An opaque optimizer-state leaf: checkpoints keep arrays only, so after a
  resume it refills from the batches trained on since."""

  __slots__ = ('capacity', 'batches')

  def __init__(self, capacity: int, batches: tuple = ()):
    self.capacity = capacity
    self.batches = batches

  def push(self, batch) -> RecentBatches:
    if not self.capacity:
      return self
    return RecentBatches(self.capacity, (*self.batches, batch)[-self.capacity:])

  def __repr__(self):
    return f'RecentBatches({len(self.batches)} of {self.capacity})'


def has_statistics(model_state: Any) -> bool:
  """Whether the model state holds floating-point leaves (batch-norm statistics)."""
  return any(jnp.issubdtype(x.dtype, jnp.floating) for x in jax.tree.leaves(model_state))


def build_recompute(workload: spec.Workload):
  """Jit `(params, model_state, batches, rng) -> model_state` whose running statistics are
  the mean, over `batches`, of each batch's statistics under `params`."""

  def after_one_batch(params, model_state, batch, rng):
    _, new_state = workload.model_fn(params, batch, model_state, spec.ForwardPassMode.TRAIN,
                                     rng, update_batch_norm=True)
    return new_state

  def recompute(params, model_state, batches, rng):
    zeros = jax.tree.map(jnp.zeros_like, model_state)
    ones = jax.tree.map(jnp.ones_like, model_state)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *batches)

    def add_batch(total, batch):
      scaled = after_one_batch(params, zeros, batch, rng)  # (1 - m)·b
      return jax.tree.map(jnp.add, total, scaled), None

    total, _ = jax.lax.scan(add_batch, zeros, stacked)
    from_ones = after_one_batch(params, ones, batches[0], rng)
    from_zeros = after_one_batch(params, zeros, batches[0], rng)

    def mean_statistic(kept, total, from_ones, from_zeros):
      if not jnp.issubdtype(kept.dtype, jnp.floating):
        return kept
      batch_weight = 1.0 - (from_ones - from_zeros)  # 1 - m
      is_average = batch_weight > _MIN_BATCH_WEIGHT
      safe_weight = jnp.where(is_average, batch_weight, 1.0)
      return jnp.where(is_average, total / (len(batches) * safe_weight), kept)

    return jax.tree.map(mean_statistic, model_state, total, from_ones, from_zeros)

  return jax.jit(recompute)
