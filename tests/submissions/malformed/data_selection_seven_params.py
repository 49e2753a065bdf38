"""Malformed: data_selection takes 7 parameters (forgot rng); the runner passes 8."""
from malformed_base import get_batch_size, init_optimizer_state, update_params  # noqa: F401


def data_selection(workload, input_queue, optimizer_state, current_param_container,
                   model_state, hyperparameters, global_step):
  return next(input_queue)
