"""Malformed: update_params raises RuntimeError when called with global_step == 3."""
import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  if kwargs['global_step'] == 3:
    raise RuntimeError('optimizer exploded')
  return malformed_base.update_params(**kwargs)
