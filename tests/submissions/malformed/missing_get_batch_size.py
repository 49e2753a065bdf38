"""Malformed: no get_batch_size."""
from malformed_base import data_selection, init_optimizer_state, update_params  # noqa: F401
