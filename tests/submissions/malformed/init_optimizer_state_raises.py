"""Malformed: init_optimizer_state reads a hyperparameter that is not there."""
from malformed_base import data_selection, get_batch_size, update_params  # noqa: F401


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  return hyperparameters.learning_rate
