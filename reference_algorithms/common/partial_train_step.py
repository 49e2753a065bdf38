"""A jitted train step that trains only some layer groups: frozen ones leave the backward pass.

`jax.value_and_grad` is taken with respect to the training groups' params alone; the frozen
groups' params enter the loss as plain inputs, so XLA computes no weight gradient for them,
and nothing at all is backpropagated below the lowest training group. (Zeroing their
updates, e.g. `optax.set_to_zero`, would still compute every gradient.) Each group has its
own Optax transformation and state; a frozen group's params and state are returned as
they came, bit for bit. Loss and label smoothing are the shared step's
(`train_step.mean_loss_fn`), and clipping is the shared global-norm clip over the training
groups' gradients, which is also the norm the step reports.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import jax
import optax

from algoperf import jax_sharding_utils, spec
from reference_algorithms.common import optax_compat, train_step


def split_params(params: dict, keys: Collection[str]) -> tuple[dict, dict]:
  """(the params under `keys`, the rest), both top-level dicts."""
  return ({k: v for k, v in params.items() if k in keys},
          {k: v for k, v in params.items() if k not in keys})


def build_partial_train_step(workload: spec.Workload, groups: Sequence[Sequence[str]],
                             txs: Sequence[optax.GradientTransformation],
                             frozen: Collection[int], *, label_smoothing: float = 0.0,
                             grad_clip: float | None = None, dropout_rate: float | None = None):
  """Jit the step that trains every group of `groups` not in `frozen`.

  step(params, model_state, opt_states, batch, rng)
      -> (params, model_state, opt_states, loss, grad_norm)
  `opt_states[i]` is `txs[i]`'s state for the params of `groups[i]`. Params, model state
  and optimizer states are replicated and donated; the batch is split on its leading axis.
  """
  training = [i for i in range(len(groups)) if i not in frozen]
  training_keys = {key for i in training for key in groups[i]}
  mean_loss = train_step.mean_loss_fn(workload, label_smoothing, dropout_rate)
  clip = train_step._clip_fn(grad_clip)  # the shared step's clip, reused

  def step(params, model_state, opt_states, batch, rng):
    trained, fixed = split_params(params, training_keys)

    def loss_of_trained(trained):
      return mean_loss({**fixed, **trained}, model_state, batch, rng)

    (loss, new_model_state), grads = jax.value_and_grad(loss_of_trained, has_aux=True)(trained)
    grad_norm = optax_compat.tree_norm(grads)
    grads = clip(grads)
    new_params, new_states = dict(params), list(opt_states)
    for i in training:
      group_params, _ = split_params(trained, groups[i])
      group_grads, _ = split_params(grads, groups[i])
      updates, new_states[i] = txs[i].update(group_grads, opt_states[i], group_params)
      new_params.update(optax.apply_updates(group_params, updates))
    return new_params, new_model_state, tuple(new_states), loss, grad_norm

  replicated = jax_sharding_utils.get_replicate_sharding()
  return jax.jit(
      step,
      in_shardings=(replicated, replicated, replicated,
                    jax_sharding_utils.get_batch_dim_sharding(), replicated),
      out_shardings=replicated,
      donate_argnums=(0, 1, 2))
