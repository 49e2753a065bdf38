"""Malformed: data_selection requires a keyword-only `batch_size` the runner never passes."""
from malformed_base import get_batch_size, init_optimizer_state, update_params  # noqa: F401


def data_selection(workload, input_queue, optimizer_state, current_param_container,
                   model_state, hyperparameters, global_step, rng, *, batch_size):
  return next(input_queue)
