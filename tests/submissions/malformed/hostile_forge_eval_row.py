"""Hostile: logs an eval row with a perfect validation loss through workload.metrics_logger."""
import malformed_base
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401


def update_params(**kwargs):
  kwargs['workload'].metrics_logger.append_scalar_metrics(
      {'validation/loss': 0.0, 'test/loss': 0.0}, kwargs['global_step'], is_eval=True)
  return malformed_base.update_params(**kwargs)
