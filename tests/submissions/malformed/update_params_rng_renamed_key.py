"""Malformed: update_params calls its last parameter `key`; the runner passes `rng=`."""
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, key, train_state=None):
  return optimizer_state, current_param_container, model_state
