"""Malformed (the submission's own bug): indexes a scalar loss with [0]."""
import jax.numpy as jnp
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng):
  loss = jnp.mean(batch['targets'])
  first = loss[0]  # A 0-d array has no index 0: the submission's bug, on this line.
  del first
  return optimizer_state, current_param_container, model_state
