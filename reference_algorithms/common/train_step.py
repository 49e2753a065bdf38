"""The one jitted training step all baselines share, compiled once per trial.

AlgoPerf's baselines call `jax.jit(train_step, ...)` inside every `update_params`, which
costs a cache lookup over a static workload argument and re-hashing every step. Here the
step closes over the workload, optimizer and per-trial knobs, is jitted once when the
optimizer state is built, and travels inside the optimizer state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import optax

from algoperf import jax_sharding_utils, spec
from reference_algorithms.common import averaging, optax_compat


@dataclasses.dataclass(frozen=True)
class CompiledSteps:
  """A trial's jitted functions: one non-array optimizer-state leaf, rebuilt by init.

  train(params, model_state, opt_state, batch, rng)
      -> (params, model_state, opt_state, loss, grad_norm)
  evaluate(state, rng) -> what `prepare_for_eval` evaluates, for algorithms that evaluate
      another point than they train (eval_point.EvalPlan); None: the training point.
  """
  train: Callable[..., tuple[Any, Any, Any, jax.Array, jax.Array]]
  evaluate: Callable[[Any, Any], Any] | None = None


def mean_loss_fn(workload: spec.Workload, label_smoothing: float, dropout_rate: float | None):
  """(params, model_state, batch, rng) -> (mean loss over valid examples, new model state)."""
  def mean_loss(params, model_state, batch, rng):
    logits, new_model_state = workload.model_fn(
        params, batch, model_state, spec.ForwardPassMode.TRAIN, rng,
        update_batch_norm=True, dropout_rate=dropout_rate)
    losses = workload.loss_fn(
        label_batch=batch['targets'], logits_batch=logits,
        mask_batch=batch.get('weights'), label_smoothing=label_smoothing)
    return losses['summed'] / losses['n_valid_examples'], new_model_state
  return mean_loss


def _clip_fn(grad_clip: float | None):
  """Global-norm clipping as a pure function of the gradients (identity when None)."""
  clip = None if grad_clip is None else optax.clip_by_global_norm(grad_clip)

  def clipped(grads):
    if clip is None:
      return grads
    return clip.update(grads, optax.EmptyState())[0]  # stateless: its state is EmptyState
  return clipped


def build_train_step(workload: spec.Workload, tx: optax.GradientTransformation, *,
                     label_smoothing: float = 0.0, grad_clip: float | None = None,
                     dropout_rate: float | None = None, pass_grad_fn: bool = False,
                     tracker: averaging.Tracker | None = None):
  """Jit (once) the step: mean loss, grads, optional clipping, optax update.

  Params, model state and optimizer state are replicated and donated; the batch is split
  along its leading axis. `pass_grad_fn` hands `tx.update` a `grad_fn(params, i)` oracle
  on the same batch (optax.contrib.sam in opaque mode needs it). With a `tracker`
  (averaging.Tracker: SWA's average, a snapshot ring), the optimizer state is
  `(optax_state, tracker_state)` and the tracker takes each step's new point.
  """
  mean_loss = mean_loss_fn(workload, label_smoothing, dropout_rate)
  clip = _clip_fn(grad_clip)

  def step(params, model_state, opt_state, batch, rng):
    if tracker is not None:
      opt_state, tracked = opt_state
    (loss, new_model_state), grads = jax.value_and_grad(mean_loss, has_aux=True)(
        params, model_state, batch, rng)
    grad_norm = optax_compat.tree_norm(grads)
    extra_args = {}
    if pass_grad_fn:
      def grad_fn(p, adversarial_step):
        del adversarial_step  # every adversarial gradient uses this step's batch
        return clip(jax.grad(lambda q: mean_loss(q, model_state, batch, rng)[0])(p))
      extra_args['grad_fn'] = grad_fn
    updates, new_opt_state = tx.update(clip(grads), opt_state, params, **extra_args)
    new_params = optax.apply_updates(params, updates)
    if tracker is not None:
      new_opt_state = (new_opt_state, tracker.update(tracked, new_params, new_model_state))
    return new_params, new_model_state, new_opt_state, loss, grad_norm

  replicated = jax_sharding_utils.get_replicate_sharding()
  batch_sharded = jax_sharding_utils.get_batch_dim_sharding()
  return jax.jit(
      step,
      in_shardings=(replicated, replicated, replicated, batch_sharded, replicated),
      out_shardings=replicated,
      donate_argnums=(0, 1, 2))


def build_eval_params(eval_params: Callable[[Any, Any], Any] | None):
  """Jit an (opt_state, params) -> eval params map; params and state are not donated."""
  if eval_params is None:
    return None
  return jax.jit(eval_params, out_shardings=jax_sharding_utils.get_replicate_sharding())
