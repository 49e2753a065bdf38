"""Hostile: finds the runner's submission clock through `gc` and turns it back to zero
late in the run (each step also sleeps, so the run is long enough to tell)."""
import gc
import time

import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401

from algoperf import clock


def update_params(**kwargs):
  time.sleep(0.01)
  if kwargs['global_step'] == 250:
    for obj in gc.get_objects():
      if isinstance(obj, clock.SubmissionClock):
        obj.accumulated = 0.0
  return malformed_base.update_params(**kwargs)
