"""Hostile: update_params never returns from step 2 (the watchdog must end the trial)."""
import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  while kwargs['global_step'] == 2:
    pass
  return malformed_base.update_params(**kwargs)
