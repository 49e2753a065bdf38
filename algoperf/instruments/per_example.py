"""Per-example losses of an AlgoPerf workload, as the instruments observe them.

`per_example_loss_fn(workload, model_state)` builds the function the instruments
differentiate: the workload's own `model_fn` in EVAL mode (`update_batch_norm=False`) and
its `loss_fn`'s `'per_example'` output. EVAL mode is the documented choice for models whose
training forward pass couples examples: dropout is off and batch norm normalises with its
running statistics (`model_state`), so each example's loss depends on that example only and
per-example gradients (`vmap` of `grad` over examples) are well defined. The numbers are
therefore those of the eval-mode network on the training batch, which can differ from the
train-mode loss the submission optimised; `forward_mode_note` says so in the output.

An *example* is one row of the batch (leading axis). A loss with more axes per example
(e.g. per-token losses [B, T]) is averaged over that row's valid positions; `weights`
(AlgoPerf's 0/1 padding mask, shape [B] or the per-example loss's shape) mark valid rows
and positions. The mini-batch loss is the mean over valid rows, which equals the
workload's `summed / n_valid_examples` whenever valid rows have equally many valid
positions (always, for per-example losses of shape [B]).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from algoperf import spec

DEFAULT_FLAG = '--instruments'

EVAL_MODE_NOTE = (
    "per-example quantities use the workload's model_fn in EVAL mode "
    '(update_batch_norm=False): dropout off')


class WorkloadPerExampleLoss:
  """`fn(params, batch, model_state=None) -> (losses [B], valid [B])` for a workload.

  `model_state=None` uses the state given at construction; pass the current one (batch
  norm running statistics change during training) through `Instruments.observe`.
  """

  takes_model_state = True

  def __init__(self, workload: spec.Workload, model_state: Any = None, *,
               flag: str = DEFAULT_FLAG):
    self.workload = workload
    self.model_state = model_state
    self.flag = flag
    has_state = bool(jax.tree_util.tree_leaves(model_state))
    if has_state:
      self.forward_mode_note = (
          EVAL_MODE_NOTE + '; batch norm normalises with its running statistics from '
          'model_state, not with the batch statistics of the training step, so each '
          "example's loss depends on that example only (the eval-mode loss can differ "
          'from the train-mode loss the submission optimised)')
    else:
      self.forward_mode_note = (
          EVAL_MODE_NOTE + '; the model has no batch-norm state, so examples are '
          'independent (with dropout_rate 0 the losses equal the training loss)')

  def __call__(self, params, batch, model_state=None):
    state = self.model_state if model_state is None else model_state
    logits, _ = self.workload.model_fn(params, batch, state, spec.ForwardPassMode.EVAL,
                                       None, update_batch_norm=False)
    weights = batch.get('weights') if hasattr(batch, 'get') else None
    out = self.workload.loss_fn(batch['targets'], logits, weights)
    name = type(self.workload).__name__
    if not isinstance(out, dict) or 'per_example' not in out:
      got = sorted(out) if isinstance(out, dict) else type(out).__name__
      raise ValueError(
          f"{self.flag}: workload {name}'s loss_fn returns no 'per_example' losses "
          f'(got {got}); the instruments need per-example losses. Run without '
          f'{self.flag}, or make loss_fn return per_example.')
    per_example = jnp.asarray(out['per_example'])
    batch_size = jax.tree_util.tree_leaves(batch)[0].shape[0]
    if per_example.ndim == 0 or per_example.shape[0] != batch_size:
      raise ValueError(
          f"{self.flag}: workload {name}'s loss_fn 'per_example' has shape "
          f'{per_example.shape}; the instruments need one loss per example, leading axis '
          f'{batch_size} (the batch size).')
    if weights is None:
      w = jnp.ones(per_example.shape, per_example.dtype)
    else:
      w = jnp.asarray(weights, per_example.dtype)
      w = w.reshape(w.shape + (1,) * (per_example.ndim - w.ndim))
      w = jnp.broadcast_to(w, per_example.shape)
    if per_example.ndim == 1:
      return jnp.where(w > 0, per_example, 0.0), w > 0
    axes = tuple(range(1, per_example.ndim))
    count = jnp.sum(w > 0, axis=axes)
    summed = jnp.sum(jnp.where(w > 0, per_example, 0.0), axis=axes)
    return summed / jnp.maximum(count, 1).astype(per_example.dtype), count > 0


def per_example_loss_fn(workload: spec.Workload, model_state: Any = None, *,
                        flag: str = DEFAULT_FLAG) -> WorkloadPerExampleLoss:
  """The eval-mode per-example loss of `workload` (see the module docstring)."""
  return WorkloadPerExampleLoss(workload, model_state, flag=flag)
