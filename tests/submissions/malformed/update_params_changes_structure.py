"""Malformed: update_params adds a parameter the model does not have."""
import jax.numpy as jnp
import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  optimizer_state, params, model_state = malformed_base.update_params(**kwargs)
  return optimizer_state, {**params, 'extra': jnp.zeros(3)}, model_state
