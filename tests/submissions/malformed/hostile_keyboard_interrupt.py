"""Hostile: update_params raises KeyboardInterrupt at step 2 (not a user's Ctrl-C)."""
import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  if kwargs['global_step'] == 2:
    raise KeyboardInterrupt
  return malformed_base.update_params(**kwargs)
