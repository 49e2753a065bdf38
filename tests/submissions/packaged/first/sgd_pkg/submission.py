"""Entry point of a package submission: every helper comes in by a relative import."""

from . import schedule
from .steps.sgd_step import optimizer, train_step

WHICH = schedule.WHICH


def get_batch_size(workload_name):
  return 32


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  tx = optimizer()
  return tx.init(model_params), tx.update


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng):
  opt_state, update_fn = optimizer_state
  opt_state, params, model_state, _ = train_step(
      workload, update_fn, opt_state, current_param_container, model_state, batch, rng)
  return (opt_state, update_fn), params, model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container,
                   model_state, hyperparameters, global_step, rng):
  return next(input_queue)
