"""Malformed: no init_optimizer_state."""
from malformed_base import data_selection, get_batch_size, update_params  # noqa: F401
