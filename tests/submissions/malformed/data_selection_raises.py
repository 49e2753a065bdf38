"""Malformed: data_selection fails on its first call."""
from malformed_base import get_batch_size, init_optimizer_state, update_params  # noqa: F401


def data_selection(workload, input_queue, optimizer_state, current_param_container,
                   model_state, hyperparameters, global_step, rng):
  return next(input_queue)['no_such_key']
