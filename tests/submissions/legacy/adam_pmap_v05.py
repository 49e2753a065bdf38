"""Adam with linear warmup, written the way AlgoPerf v0.5's JAX submissions were.

A test fixture for legacy pmap mode (tests/test_legacy_pmap.py), written for these tests
in the v0.5 style, not copied from one: the old package name (`from algorithmic_efficiency
import spec`), params and optimizer state replicated across devices (`flax.jax_utils`), a
train step under `jax.pmap(..., axis_name='batch')` with donated buffers that sums loss,
example count and gradients over devices, an `(opt_state, update_fn)` optimizer state,
`jax.tree_map` (JAX <= 0.5), a single rng split per device, and per-device batch
statistics returned as they are (v0.5's runner averaged them before each eval). No
`prepare_for_eval` (v0.6 added it). Do not modernise it: it must run unchanged.
"""

# ruff: noqa: I001, UP006, UP035, UP045 -- the v0.5 style (import order, typing), on purpose.
import functools
from typing import Dict, Iterator, List, Tuple

from flax import jax_utils
import jax
from jax import lax
import jax.numpy as jnp

from algorithmic_efficiency import spec

_EPS = 1e-8
_LOG_EVERY_N_STEPS = 10


def _make_update_fn(hyperparameters, step_hint):
  """Adam with decoupled weight decay and a linear warmup; acts on one device's copy."""
  peak = hyperparameters.learning_rate
  b1 = 1.0 - hyperparameters.one_minus_beta1
  b2 = hyperparameters.beta2
  weight_decay = hyperparameters.weight_decay
  warmup_steps = max(int(hyperparameters.warmup_factor * step_hint), 1)

  def update_fn(opt_state, params, grads):
    count = opt_state['count'] + 1
    mu = jax.tree_map(lambda m, g: b1 * m + (1.0 - b1) * g, opt_state['mu'], grads)
    nu = jax.tree_map(lambda v, g: b2 * v + (1.0 - b2) * g * g, opt_state['nu'], grads)
    step = count.astype(jnp.float32)
    lr = peak * jnp.minimum(1.0, step / warmup_steps)
    mu_hat_scale = 1.0 / (1.0 - b1**step)
    nu_hat_scale = 1.0 / (1.0 - b2**step)

    def new_param(p, m, v):
      direction = (m * mu_hat_scale) / (jnp.sqrt(v * nu_hat_scale) + _EPS)
      return p - lr * (direction + weight_decay * p)

    new_params = jax.tree_map(new_param, params, mu, nu)
    return {'count': count, 'mu': mu, 'nu': nu}, new_params

  return update_fn


def init_optimizer_state(workload: spec.Workload,
                         model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState,
                         hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_params
  del model_state
  del rng
  zeros = jax.tree_map(lambda s: jnp.zeros(s.shape_tuple, jnp.float32),
                       workload.param_shapes)
  opt_state = {
      'count': jnp.zeros([], jnp.int32),
      'mu': zeros,
      'nu': jax.tree_map(jnp.zeros_like, zeros),
  }
  update_fn = _make_update_fn(hyperparameters, workload.step_hint)
  return jax_utils.replicate(opt_state), update_fn


@functools.partial(
    jax.pmap,
    axis_name='batch',
    in_axes=(None, None, 0, 0, 0, 0, 0),
    static_broadcasted_argnums=(0, 1),
    donate_argnums=(2, 3, 4))
def pmapped_train_step(workload, update_fn, model_state, opt_state,
                       current_param_container, batch, rng):

  def _loss_fn(params):
    logits, new_model_state = workload.model_fn(
        params,
        batch,
        model_state,
        spec.ForwardPassMode.TRAIN,
        rng,
        update_batch_norm=True)
    loss_dict = workload.loss_fn(
        label_batch=batch['targets'],
        logits_batch=logits,
        mask_batch=batch.get('weights'))
    return loss_dict['summed'], (loss_dict['n_valid_examples'], new_model_state)

  grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
  (summed_loss, (n_valid_examples, new_model_state)), grad = grad_fn(
      current_param_container)
  # The global mean loss and gradient: sums over every device's rows.
  summed_loss, n_valid_examples, grad = lax.psum(
      (summed_loss, n_valid_examples, grad), axis_name='batch')
  loss = summed_loss / n_valid_examples
  grad = jax.tree_map(lambda g: g / n_valid_examples, grad)
  new_opt_state, new_params = update_fn(opt_state, current_param_container, grad)
  return new_opt_state, new_params, new_model_state, loss


def update_params(workload: spec.Workload,
                  current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree,
                  model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters,
                  batch: Dict[str, spec.Tensor],
                  loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState,
                  eval_results: List[Tuple[int, float]],
                  global_step: int,
                  rng: spec.RandomState) -> spec.UpdateReturn:
  """Return (updated_optimizer_state, updated_params, updated_model_state)."""
  del current_params_types
  del loss_type
  del eval_results
  del hyperparameters

  opt_state, update_fn = optimizer_state
  per_device_rngs = jax.random.split(rng, jax.local_device_count())
  new_opt_state, new_params, new_model_state, loss = pmapped_train_step(
      workload, update_fn, model_state, opt_state, current_param_container, batch,
      per_device_rngs)
  if global_step % _LOG_EVERY_N_STEPS == 0 and workload.metrics_logger is not None:
    workload.metrics_logger.append_scalar_metrics({'loss': loss[0]}, global_step)
  return (new_opt_state, update_fn), new_params, new_model_state


def get_batch_size(workload_name):
  # AlgoPerf v0.5's workload names only: here the runner falls back to each workload's
  # default batch size.
  if workload_name == 'criteo1tb':
    return 262_144
  elif workload_name == 'fastmri':
    return 32
  elif workload_name == 'imagenet_resnet':
    return 1024
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
  elif workload_name == 'mnist':
    return 16
  else:
    raise ValueError(f'Unsupported workload name: {workload_name}.')


def data_selection(workload: spec.Workload,
                   input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState,
                   current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState,
                   hyperparameters: spec.Hyperparameters,
                   global_step: int,
                   rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  """Select data from the infinitely repeating, pre-shuffled input queue."""
  del workload
  del optimizer_state
  del current_param_container
  del model_state
  del hyperparameters
  del global_step
  del rng
  return next(input_queue)
