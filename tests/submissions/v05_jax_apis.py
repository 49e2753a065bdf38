"""SGD with momentum written with JAX APIs of AlgoPerf v0.5's day that newer JAX removed.

`jax.tree_map` (gone in JAX 0.6) and `jnp.clip(a_min=..., a_max=...)` (gone in JAX 0.10)
are what public v0.5-era submissions call; this file runs only in an environment that still
has them (constraints/algoperf-v0.5.txt, docs/environments.md). The submission API itself
is v0.6's, so the test exercises the JAX environment and nothing else.
"""

import functools

import jax
import jax.numpy as jnp

from algoperf import spec


def get_batch_size(workload_name):
  return 32


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  return {'momentum': jax.tree_map(jnp.zeros_like, model_params)}


@functools.partial(jax.jit, static_argnums=(0,))
def _train_step(workload, opt_state, params, model_state, batch, rng, learning_rate):
  def loss_fn(p):
    logits, new_state = workload.model_fn(p, batch, model_state, spec.ForwardPassMode.TRAIN,
                                          rng, update_batch_norm=True)
    out = workload.loss_fn(batch['targets'], logits, batch.get('weights'))
    return out['summed'] / out['n_valid_examples'], new_state
  (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  grads = jax.tree_map(lambda g: jnp.clip(g, a_min=-10.0, a_max=10.0), grads)
  momentum = jax.tree_map(lambda m, g: 0.9 * m + g, opt_state['momentum'], grads)
  params = jax.tree_map(lambda p, m: p - learning_rate * m, params, momentum)
  return {'momentum': momentum}, params, new_state, loss


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  lr = 0.05 if hyperparameters is None else hyperparameters.learning_rate
  opt_state, params, model_state, _ = _train_step(
      workload, optimizer_state, current_param_container, model_state, batch, rng, lr)
  return opt_state, params, model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container,
                   model_state, hyperparameters, global_step, rng):
  return next(input_queue)
