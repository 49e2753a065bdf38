"""Malformed: update_params returns (optimizer_state, params), forgetting model_state."""
import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  optimizer_state, params, _ = malformed_base.update_params(**kwargs)
  return optimizer_state, params
