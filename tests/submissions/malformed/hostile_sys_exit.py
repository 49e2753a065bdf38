"""Hostile: update_params calls sys.exit(0) at step 2 (the trial ends as an error)."""
import sys

import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  if kwargs['global_step'] == 2:
    sys.exit(0)
  return malformed_base.update_params(**kwargs)
