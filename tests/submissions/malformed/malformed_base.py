"""A valid plain-SGD submission the malformed submissions beside it borrow from.

Each malformed file imports what it keeps from here as a sibling module (the loader puts
a submission's folder on `sys.path`, as AlgoPerf does) and breaks exactly one rule.
"""

import jax
import optax

from algoperf import spec


def get_batch_size(workload_name):
  del workload_name
  return 32


# One optimizer for every trial in a test process: its update function is a static argument
# of the jitted step, so the step compiles once rather than once per trial.
_OPTIMIZER = optax.sgd(0.1)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  del workload, model_state, hyperparameters, rng
  return _OPTIMIZER.init(model_params), _OPTIMIZER.update


def _train_step(workload, update_fn, opt_state, params, model_state, batch, rng):
  def loss_fn(p):
    logits, new_state = workload.model_fn(p, batch, model_state, spec.ForwardPassMode.TRAIN,
                                          rng, update_batch_norm=True)
    out = workload.loss_fn(batch['targets'], logits, batch.get('weights'))
    return out['summed'] / out['n_valid_examples'], new_state
  (_, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = update_fn(grads, opt_state, params)
  return opt_state, optax.apply_updates(params, updates), new_state


_jitted_train_step = jax.jit(_train_step, static_argnums=(0, 1))


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  del current_params_types, hyperparameters, loss_type, eval_results, global_step
  del train_state
  opt_state, update_fn = optimizer_state
  opt_state, params, model_state = _jitted_train_step(
      workload, update_fn, opt_state, current_param_container, model_state, batch, rng)
  return (opt_state, update_fn), params, model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container,
                   model_state, hyperparameters, global_step, rng):
  del workload, optimizer_state, current_param_container, model_state, hyperparameters
  del global_step, rng
  return next(input_queue)
