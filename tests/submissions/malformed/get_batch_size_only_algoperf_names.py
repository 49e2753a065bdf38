"""Knows only AlgoPerf's workload names and raises ValueError for any other, as AlgoPerf's
baselines do: the runner must fall back to the workload's default batch size."""
from malformed_base import data_selection, init_optimizer_state, update_params  # noqa: F401


def get_batch_size(workload_name):
  if workload_name == 'mnist':
    return 16
  raise ValueError(f'Unsupported workload name: {workload_name}.')
