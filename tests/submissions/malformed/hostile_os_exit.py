"""Hostile: update_params ends the process with os._exit(0) at step 2."""
import os

import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  if kwargs['global_step'] == 2:
    os._exit(0)
  return malformed_base.update_params(**kwargs)
