"""NAdamW with warmup + cosine decay, written exactly as for MLCommons AlgoPerf's JAX API v0.6.

Shaped like AlgoPerf's `algorithms/baselines/external_tuning/jax_nadamw_full_budget.py`:
`from algoperf import spec, jax_sharding_utils`, optimizer state built from
`workload.param_shapes`, a `(state, update_fn)` optimizer state, a train step jitted with
explicit in/out shardings and donated buffers, loss logged through
`workload.metrics_logger`, and a batch-size list of AlgoPerf's workload names only.
It must run here unchanged (tests/test_compat.py): do not adapt it to this project.
"""

# ruff: noqa: UP006, UP035, UP045 -- AlgoPerf's own typing style, kept verbatim on purpose.
from typing import Any, Dict, Iterator, List, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from algoperf import jax_sharding_utils, spec

_GRAD_CLIP_EPS = 1e-6
# AlgoPerf's baselines log every 100 steps; fewer here so a short test run logs a few rows.
_LOG_EVERY_N_STEPS = 10


def init_optimizer_state(
  workload: spec.Workload,
  model_params: spec.ParameterContainer,
  model_state: spec.ModelAuxiliaryState,
  hyperparameters: spec.Hyperparameters,
  rng: spec.RandomState,
) -> spec.OptimizerState:
  """Creates a NAdamW optimizer and a learning rate schedule."""
  del model_params
  del model_state
  del rng

  def jax_cosine_warmup(step_hint: int, hyperparameters):
    # Create learning rate schedule.
    warmup_steps = int(hyperparameters.warmup_factor * step_hint)
    warmup_fn = optax.linear_schedule(
      init_value=0.0,
      end_value=hyperparameters.learning_rate,
      transition_steps=warmup_steps,
    )
    cosine_steps = max(step_hint - warmup_steps, 1)
    cosine_fn = optax.cosine_decay_schedule(
      init_value=hyperparameters.learning_rate, decay_steps=cosine_steps
    )
    schedule_fn = optax.join_schedules(
      schedules=[warmup_fn, cosine_fn], boundaries=[warmup_steps]
    )
    return schedule_fn

  # Create optimizer + LR schedule.
  lr_schedule_fn = jax_cosine_warmup(workload.step_hint, hyperparameters)
  opt_init_fn, opt_update_fn = optax.nadamw(
    learning_rate=lr_schedule_fn,
    b1=1.0 - hyperparameters.one_minus_beta1,
    b2=hyperparameters.beta2,
    eps=1e-8,
    weight_decay=hyperparameters.weight_decay,
  )
  params_zeros_like = jax.tree.map(
    lambda s: jnp.zeros(s.shape_tuple), workload.param_shapes
  )
  optimizer_state = opt_init_fn(params_zeros_like)

  return optimizer_state, opt_update_fn


def train_step(
  workload,
  opt_update_fn,
  model_state,
  optimizer_state,
  current_param_container,
  batch,
  rng,
  grad_clip,
  label_smoothing,
  dropout_rate,
):
  def _loss_fn(params):
    """Loss function used for training."""
    logits, new_model_state = workload.model_fn(
      params,
      batch,
      model_state,
      spec.ForwardPassMode.TRAIN,
      rng,
      update_batch_norm=True,
      dropout_rate=dropout_rate,
    )
    loss_dict = workload.loss_fn(
      label_batch=batch['targets'],
      logits_batch=logits,
      mask_batch=batch.get('weights'),
      label_smoothing=label_smoothing,
    )
    summed_loss = loss_dict['summed']
    n_valid_examples = loss_dict['n_valid_examples']
    return summed_loss, (n_valid_examples, new_model_state)

  grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
  (summed_loss, (n_valid_examples, new_model_state)), grad = grad_fn(
    current_param_container
  )
  # Compute mean loss and grad
  loss = summed_loss / n_valid_examples
  grad = jax.tree.map(lambda x: x / n_valid_examples, grad)

  grad_norm = jnp.sqrt(
    sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(grad))
  )

  if grad_clip is not None:
    grad_scaling_factor = grad_clip / (grad_norm + _GRAD_CLIP_EPS)
    grad_scaling_factor = jax.lax.clamp(min=0.0, x=grad_scaling_factor, max=1.0)
    grad = jax.tree.map(lambda x: x * grad_scaling_factor, grad)

  updates, new_optimizer_state = opt_update_fn(
    grad, optimizer_state, current_param_container
  )
  updated_params = optax.apply_updates(current_param_container, updates)
  return new_optimizer_state, updated_params, new_model_state, loss, grad_norm


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
  train_state: Optional[Dict[str, Any]] = None,
) -> spec.UpdateReturn:
  """Return (updated_optimizer_state, updated_params, updated_model_state)."""
  del current_params_types
  del loss_type
  del train_state
  del eval_results

  optimizer_state, opt_update_fn = optimizer_state
  if hasattr(hyperparameters, 'label_smoothing'):
    label_smoothing = hyperparameters.label_smoothing
  else:
    label_smoothing = 0.0
  if hasattr(hyperparameters, 'grad_clip'):
    grad_clip = hyperparameters.grad_clip
  else:
    grad_clip = None
  dropout_rate = hyperparameters.dropout_rate

  # Create shardings for each argument
  replicated = jax_sharding_utils.get_replicate_sharding()  # No partitioning
  sharded = (
    jax_sharding_utils.get_batch_dim_sharding()
  )  # Partition along batch dimension

  # Create the sharding rules for each argument
  arg_shardings = (
    # workload is static
    # opt_update_fn is static
    replicated,  # model_state
    replicated,  # optimizer_state
    replicated,  # current_param_container
    sharded,  # batch
    replicated,  # rng
    replicated,  # grad_clip
    replicated,  # label_smoothing
    replicated,  # dropout_rate
  )
  out_shardings = (
    replicated,  # new_optimizer_state
    replicated,  # updated_params
    replicated,  # new_model_state
    replicated,  # loss
    replicated,  # grad_norm
  )
  # Jit with shardings
  jitted_train_step = jax.jit(
    train_step,
    static_argnums=(0, 1),
    donate_argnums=(2, 3, 4),
    in_shardings=arg_shardings,
    out_shardings=out_shardings,
  )

  new_optimizer_state, new_params, new_model_state, loss, grad_norm = (
    jitted_train_step(
      workload,
      opt_update_fn,
      model_state,
      optimizer_state,
      current_param_container,
      batch,
      rng,
      grad_clip,
      label_smoothing,
      dropout_rate,
    )
  )

  # Log loss, grad_norm.
  if global_step % _LOG_EVERY_N_STEPS == 0 and workload.metrics_logger is not None:
    workload.metrics_logger.append_scalar_metrics(
      {'loss': loss.item(), 'grad_norm': grad_norm.item()}, global_step
    )
  return (new_optimizer_state, opt_update_fn), new_params, new_model_state


def prepare_for_eval(
  workload: spec.Workload,
  current_param_container: spec.ParameterContainer,
  current_params_types: spec.ParameterTypeTree,
  model_state: spec.ModelAuxiliaryState,
  hyperparameters: spec.Hyperparameters,
  loss_type: spec.LossType,
  optimizer_state: spec.OptimizerState,
  eval_results: List[Tuple[int, float]],
  global_step: int,
  rng: spec.RandomState,
) -> spec.UpdateReturn:
  """Return (updated_optimizer_state, updated_params)."""
  del workload
  del hyperparameters
  del current_params_types
  del loss_type
  del eval_results
  del global_step
  del rng
  return (optimizer_state, current_param_container, model_state)


def get_batch_size(workload_name):
  # Return the global batch size.
  if workload_name == 'criteo1tb':
    return 262_144
  elif workload_name == 'fastmri':
    return 32
  elif workload_name == 'imagenet_resnet':
    return 1024
  elif workload_name == 'imagenet_resnet_silu':
    return 512
  elif workload_name == 'imagenet_resnet_gelu':
    return 512
  elif workload_name == 'imagenet_vit':
    return 1024
  elif workload_name == 'librispeech_conformer':
    return 256
  elif workload_name == 'librispeech_deepspeech':
    return 256
  elif workload_name == 'ogbg':
    return 512
  elif workload_name == 'wmt':
    return 128
  elif workload_name == 'finewebedu_lm':
    return 64
  elif workload_name == 'mnist':
    return 16
  elif workload_name == 'cifar':
    return 16384
  else:
    raise ValueError(f'Unsupported workload name: {workload_name}.')


def data_selection(
  workload: spec.Workload,
  input_queue: Iterator[Dict[str, spec.Tensor]],
  optimizer_state: spec.OptimizerState,
  current_param_container: spec.ParameterContainer,
  model_state: spec.ModelAuxiliaryState,
  hyperparameters: spec.Hyperparameters,
  global_step: int,
  rng: spec.RandomState,
) -> Dict[str, spec.Tensor]:
  """Select data from the infinitely repeating, pre-shuffled input queue.
  Each element of the queue is a batch of training examples and labels.
  """
  del workload
  del optimizer_state
  del current_param_container
  del model_state
  del hyperparameters
  del global_step
  del rng
  batch = next(input_queue)
  return batch
