"""Batch-norm statistics recomputed at a parameter point, as Garipov et al. do.

Running averages saved with a trained point belong to that point; at any other point of a
path or plane they are wrong, and a batch-norm network evaluated with wrong statistics
shows barriers that are not there. Like the paper's `bn_update` (PyTorch, momentum=None:
a cumulative average), the statistics at a point are replaced with the equal-weight mean,
over K training batches, of each batch's own statistics (per-channel mean and biased
variance, as Flax's BatchNorm computes them in training mode).

The workload's `model_fn` in training mode with `update_batch_norm=True` returns
m·old + (1 − m)·batch_statistic for each leaf of the model state, and the batch statistic
does not depend on `old` (training mode normalises with the batch's own statistics). So
with old = 0 it returns (1 − m)·batch_statistic; the momentum m is read once from two
calls (old = 0 and old = 1), which also checks that the state is such running averages.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import spec
from algoperf.landscape import LandscapeError

# Spread of (new(1) − new(0)) within one leaf above which it is not a running average.
_MOMENTUM_SPREAD = 1e-3
RNG = jax.random.PRNGKey(0)

DESCRIPTION = (
    'batch-norm statistics recomputed at every evaluated point: the running averages were '
    'replaced by the mean over {batches} training batches of {batch_size} examples of each '
    "batch's own statistics (Garipov et al.'s bn_update), before evaluating that point")


def has_state(model_state) -> bool:
  return model_state is not None and len(jax.tree.leaves(model_state)) > 0


def train_mode_state(workload, params, model_state, batch):
  """The model state `model_fn` returns in training mode with statistics updated."""
  _, new_state = workload.model_fn(params, batch, model_state, spec.ForwardPassMode.TRAIN,
                                   RNG, update_batch_norm=True)
  return new_state


def momenta(workload, params, model_state, batch):
  """Per leaf, the running-average momentum m (a scalar), read from two training calls.

  Raises `LandscapeError` when a leaf is not updated as m·old + (1 − m)·new."""
  zeros = jax.tree.map(jnp.zeros_like, model_state)
  ones = jax.tree.map(jnp.ones_like, model_state)
  fn = jax.jit(lambda s: train_mode_state(workload, params, s, batch))
  from_zeros, from_ones = fn(zeros), fn(ones)
  flat0, treedef = jax.tree_util.tree_flatten_with_path(from_zeros)
  flat1 = jax.tree.leaves(from_ones)
  moms = []
  for (path, a), b in zip(flat0, flat1, strict=True):
    m = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    median = float(np.median(m))
    if (not np.all(np.isfinite(m)) or np.max(np.abs(m - median)) > _MOMENTUM_SPREAD
        or not 0.0 <= median < 1.0):
      raise LandscapeError(
          f'model state leaf {jax.tree_util.keystr(path)} is not a running average of '
          'batch statistics, so it cannot be recomputed at each point; pass '
          '--norecompute_bn to combine the trained points\' states instead')
    moms.append(np.float32(round(median, 6)))
  return jax.tree.unflatten(treedef, moms)


def zero_state(model_state):
  return jax.tree.map(jnp.zeros_like, model_state)
