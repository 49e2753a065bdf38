"""Hostile: update_params reads address 0 through ctypes at step 2 (SIGSEGV)."""
import ctypes

import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  if kwargs['global_step'] == 2:
    ctypes.string_at(0)
  return malformed_base.update_params(**kwargs)
