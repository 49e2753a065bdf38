"""Template submission: copy this file, fill in the parts that raise NotImplementedError.

The runner imports this module and calls, per trial:

  get_batch_size(workload_name)                         once, before the input pipeline
  init_optimizer_state(workload, params, ...)           once, untimed (after init_model_fn)
  loop until the budget is spent or the targets are reached:
    batch = data_selection(...)                          timed
    optimizer_state, params, model_state = update_params(...)   timed
    before each (untimed) evaluation: prepare_for_eval(...)     timed, optional

Conventions (AlgoPerf JAX API v0.6):
* Params, model state and batches are JAX pytrees. Batches are dicts with 'inputs',
  'targets' and optionally 'weights' (1 for real examples, 0 for padding), split along
  the leading axis across devices (`jax_sharding_utils.get_batch_dim_sharding()`); keep
  params and optimizer state replicated (`jax_sharding_utils.get_replicate_sharding()`).
* `hyperparameters` has attribute access (a namedtuple with the names of your
  tuning_search_space.json), or is None under the self-tuning ruleset.
* `workload.step_hint` is the step budget to plan schedules around; `workload.model_fn`
  and `workload.loss_fn` give logits and the summed, masked loss; `workload.param_shapes`
  and `workload.model_params_types` describe the parameters; `workload.metrics_logger`
  (may be None) has `append_scalar_metrics(dict, global_step)`.
* JAX dispatches asynchronously: avoid calling `float()` / `.item()` on device values
  every step, it waits for the step and costs submission time.
* The optimizer state must be a pytree whose array leaves can be checkpointed; non-array
  leaves (e.g. a jitted update function) are rebuilt by calling init_optimizer_state.
* Raise `spec.TrainingCompleteError` from update_params to end training early.

See reference_algorithms/ for complete examples (reference_algorithms/nadamw is the
AlgoPerf baseline).
"""

from collections.abc import Iterator
from typing import Any

from algoperf import jax_sharding_utils, spec  # noqa: F401 (used once you fill this in)


def get_batch_size(workload_name: str) -> int:
  """Return the global training batch size for `workload_name`.

  Raise ValueError for a workload you have no size for; the runner then uses the
  workload's default batch size.
  """
  raise NotImplementedError('get_batch_size: return a batch size per workload name.')


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState,
                         hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  """Create the optimizer state (and, typically, jit your train step here, once).

  Untimed. `model_params` are the initial (replicated) params; do not modify them.
  Return any pytree; it is passed back to every other function as `optimizer_state`.
  """
  raise NotImplementedError('init_optimizer_state: build your optimizer state.')


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree,
                  model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: dict[str, spec.Tensor],
                  loss_type: spec.LossType, optimizer_state: spec.OptimizerState,
                  eval_results: list[tuple[int, float]], global_step: int,
                  rng: spec.RandomState,
                  train_state: dict[str, Any] | None = None) -> spec.UpdateReturn:
  """Take one training step on `batch`; return (optimizer_state, params, model_state).

  Timed. `global_step` counts completed steps (0 on the first call); `rng` is this
  step's key (use it for dropout); `eval_results` lists (step, metrics) of past evals;
  `train_state` is a read-only dict of runner bookkeeping (may be absent).
  """
  # The loss and its gradient (`import jax`; reference_algorithms/common/train_step.py
  # does the same): loss_fn sums over the real examples, so divide by their count.
  # >>> loss snippet
  # def mean_loss(params):
  #   logits, new_model_state = workload.model_fn(
  #       params, batch, model_state, spec.ForwardPassMode.TRAIN, rng,
  #       update_batch_norm=True, dropout_rate=hyperparameters.dropout_rate)
  #   losses = workload.loss_fn(
  #       label_batch=batch['targets'], logits_batch=logits,
  #       mask_batch=batch.get('weights'), label_smoothing=hyperparameters.label_smoothing)
  #   return losses['summed'] / losses['n_valid_examples'], new_model_state
  # (loss, new_model_state), grads = jax.value_and_grad(mean_loss, has_aux=True)(
  #     current_param_container)
  # <<< loss snippet
  raise NotImplementedError('update_params: compute gradients and apply your update.')


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree,
                     model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState,
                     eval_results: list[tuple[int, float]], global_step: int,
                     rng: spec.RandomState) -> spec.UpdateReturn:
  """Return (optimizer_state, params_to_evaluate, model_state) before an evaluation.

  Timed; optional (delete it if you do not need it). The returned params are evaluated;
  training continues from the returned optimizer state and model state. Useful for
  weight averaging or schedule-free methods.
  """
  del workload, current_params_types, hyperparameters, loss_type, eval_results
  del global_step, rng
  return optimizer_state, current_param_container, model_state


def data_selection(workload: spec.Workload, input_queue: Iterator[dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState,
                   current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState,
                   hyperparameters: spec.Hyperparameters, global_step: int,
                   rng: spec.RandomState) -> dict[str, spec.Tensor]:
  """Return the next training batch; the default takes the queue's next batch.

  Timed. `input_queue` repeats forever and is already shuffled.
  """
  del workload, optimizer_state, current_param_container, model_state, hyperparameters
  del global_step, rng
  return next(input_queue)
