"""Hostile: logs a `score` column (a timing column of the runner) as a training metric."""
import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  kwargs['workload'].metrics_logger.append_scalar_metrics(
      {'loss': 1.0, 'score': 0.001}, kwargs['global_step'])
  return malformed_base.update_params(**kwargs)
