"""An honest plain-SGD submission the compliance fixtures borrow their other functions from.

It must give no compliance findings: every fixture that imports it is expected to report
exactly its own rule.
"""

import jax
import optax

from algoperf import spec


def get_batch_size(workload_name):
  del workload_name
  return 32


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  del workload, model_state, rng
  lr = 0.1 if hyperparameters is None else hyperparameters.learning_rate
  tx = optax.sgd(lr)
  return tx.init(model_params), tx.update


def sgd_step(workload, optimizer_state, params, model_state, batch, rng):
  """One SGD step on the mean loss; returns (optimizer_state, params, model_state)."""
  opt_state, update_fn = optimizer_state

  def loss_fn(p):
    logits, new_state = workload.model_fn(p, batch, model_state, spec.ForwardPassMode.TRAIN,
                                          rng, update_batch_norm=True)
    out = workload.loss_fn(batch['targets'], logits, batch.get('weights'))
    return out['summed'] / out['n_valid_examples'], new_state

  (_, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = update_fn(grads, opt_state, params)
  return (opt_state, update_fn), optax.apply_updates(params, updates), new_state


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  del current_params_types, hyperparameters, loss_type, eval_results, global_step
  del train_state
  return sgd_step(workload, optimizer_state, current_param_container, model_state, batch, rng)


def data_selection(workload, input_queue, optimizer_state, current_param_container,
                   model_state, hyperparameters, global_step, rng):
  del workload, optimizer_state, current_param_container, model_state, hyperparameters
  del global_step, rng
  return next(input_queue)
