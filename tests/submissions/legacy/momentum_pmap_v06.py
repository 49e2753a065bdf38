"""Heavy-ball momentum, written the way the pmap-style baselines of AlgoPerf's v0.6
leaderboard were: `from algoperf import spec` (the new package name) with v0.5's pmap
calling convention.

A test fixture for legacy pmap mode (tests/test_legacy_pmap.py), written for these tests,
not copied: an optax optimizer whose state `flax.jax_utils.replicate` copies to every
device, a pmapped step that averages gradients with `lax.pmean` and syncs batch statistics
across devices, `train_state` and `prepare_for_eval` (v0.6's API), and metrics read from
the first device (`loss[0]`). Do not modernise it: it must run unchanged.
"""

# ruff: noqa: I001, UP006, UP035, UP045 -- the v0.5 style (import order, typing), on purpose.
import functools
from typing import Any, Dict, Iterator, List, Optional, Tuple

from flax import jax_utils
import jax
from jax import lax
import optax

from algoperf import spec

_LOG_EVERY_N_STEPS = 10


def init_optimizer_state(workload: spec.Workload,
                         model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState,
                         hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state
  del rng
  warmup_steps = max(int(hyperparameters.warmup_factor * workload.step_hint), 1)
  schedule = optax.linear_schedule(
      init_value=0.0, end_value=hyperparameters.learning_rate,
      transition_steps=warmup_steps)
  opt_init_fn, opt_update_fn = optax.chain(
      optax.add_decayed_weights(hyperparameters.weight_decay),
      optax.sgd(learning_rate=schedule,
                momentum=1.0 - hyperparameters.one_minus_beta1, nesterov=True))
  # The params arrive replicated: initialise on one copy, then replicate the state.
  optimizer_state = opt_init_fn(jax_utils.unreplicate(model_params))
  return jax_utils.replicate(optimizer_state), opt_update_fn


@functools.partial(
    jax.pmap,
    axis_name='batch',
    in_axes=(None, None, 0, 0, 0, 0, 0, None),
    static_broadcasted_argnums=(0, 1))
def pmapped_train_step(workload, opt_update_fn, model_state, optimizer_state,
                       current_param_container, batch, rng, label_smoothing):

  def _loss_fn(params):
    logits, new_model_state = workload.model_fn(
        params, batch, model_state, spec.ForwardPassMode.TRAIN, rng,
        update_batch_norm=True)
    loss_dict = workload.loss_fn(
        label_batch=batch['targets'], logits_batch=logits,
        mask_batch=batch.get('weights'), label_smoothing=label_smoothing)
    mean_loss = loss_dict['summed'] / loss_dict['n_valid_examples']
    return mean_loss, new_model_state

  grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
  (loss, new_model_state), grad = grad_fn(current_param_container)
  # Every device holds an equal share of the batch: the mean of the per-device means.
  loss, grad = lax.pmean((loss, grad), axis_name='batch')
  if new_model_state is not None:
    new_model_state = lax.pmean(new_model_state, axis_name='batch')
  updates, new_optimizer_state = opt_update_fn(grad, optimizer_state,
                                               current_param_container)
  updated_params = optax.apply_updates(current_param_container, updates)
  return new_optimizer_state, updated_params, new_model_state, loss


def update_params(
    workload: spec.Workload,
    current_param_container: spec.ParameterContainer,
    current_params_types: spec.ParameterTypeTree,
    model_state: spec.ModelAuxiliaryState,
    hyperparameters: spec.Hyperparameters,
    batch: Dict[str, spec.Tensor],
    loss_type: spec.LossType,
    optimizer_state: spec.OptimizerState,
    eval_results: List[Tuple[int, float]],
    global_step: int,
    rng: spec.RandomState,
    train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types
  del loss_type
  del eval_results
  del train_state
  optimizer_state, opt_update_fn = optimizer_state
  label_smoothing = getattr(hyperparameters, 'label_smoothing', 0.0)
  per_device_rngs = jax.random.split(rng, jax.local_device_count())
  new_optimizer_state, new_params, new_model_state, loss = pmapped_train_step(
      workload, opt_update_fn, model_state, optimizer_state, current_param_container,
      batch, per_device_rngs, label_smoothing)
  if global_step % _LOG_EVERY_N_STEPS == 0 and workload.metrics_logger is not None:
    workload.metrics_logger.append_scalar_metrics({'loss': loss[0]}, global_step)
  return (new_optimizer_state, opt_update_fn), new_params, new_model_state


def prepare_for_eval(workload: spec.Workload,
                     current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree,
                     model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters,
                     loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState,
                     eval_results: List[Tuple[int, float]],
                     global_step: int,
                     rng: spec.RandomState) -> spec.UpdateReturn:
  del workload, hyperparameters, current_params_types, loss_type, eval_results
  del global_step, rng
  return optimizer_state, current_param_container, model_state


def get_batch_size(workload_name):
  if workload_name in ('imagenet_resnet', 'imagenet_vit'):
    return 1024
  if workload_name == 'mnist':
    return 16
  raise ValueError(f'Unsupported workload name: {workload_name}.')


def data_selection(workload: spec.Workload,
                   input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState,
                   current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState,
                   hyperparameters: spec.Hyperparameters,
                   global_step: int,
                   rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state
  del hyperparameters, global_step, rng
  return next(input_queue)
