"""Hostile: builds an input queue over the validation split to train on it."""
import jax
import malformed_base
from malformed_base import data_selection, get_batch_size, update_params  # noqa: F401


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  workload._build_input_queue(jax.random.PRNGKey(0), 'validation', '', 32)
  return malformed_base.init_optimizer_state(workload, model_params, model_state,
                                             hyperparameters, rng)
