"""Malformed on 8 devices: get_batch_size returns 12, which 8 devices cannot split evenly."""
from malformed_base import data_selection, init_optimizer_state, update_params  # noqa: F401


def get_batch_size(workload_name):
  return 12
