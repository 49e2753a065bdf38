"""Malformed: update_params returns every parameter flattened to one axis."""
import jax
import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  optimizer_state, params, model_state = malformed_base.update_params(**kwargs)
  return optimizer_state, jax.tree.map(lambda x: x.reshape(-1), params), model_state
