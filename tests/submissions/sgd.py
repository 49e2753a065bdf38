"""Plain SGD written the AlgoPerf v0.6 way: one jitted step, batch sharded on 'batch'."""

import functools

import jax
import optax

from algoperf import spec


def get_batch_size(workload_name):
  return 32


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  lr = 0.1 if hyperparameters is None else hyperparameters.learning_rate
  tx = optax.sgd(lr)
  return tx.init(model_params), tx.update


@functools.partial(jax.jit, static_argnums=(0, 1))
def _train_step(workload, update_fn, opt_state, params, model_state, batch, rng):
  def loss_fn(p):
    logits, new_state = workload.model_fn(p, batch, model_state, spec.ForwardPassMode.TRAIN,
                                          rng, update_batch_norm=True)
    out = workload.loss_fn(batch['targets'], logits, batch.get('weights'))
    return out['summed'] / out['n_valid_examples'], new_state
  (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = update_fn(grads, opt_state, params)
  return opt_state, optax.apply_updates(params, updates), new_state, loss


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  opt_state, update_fn = optimizer_state
  opt_state, params, model_state, _ = _train_step(
      workload, update_fn, opt_state, current_param_container, model_state, batch, rng)
  return (opt_state, update_fn), params, model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container,
                   model_state, hyperparameters, global_step, rng):
  return next(input_queue)
