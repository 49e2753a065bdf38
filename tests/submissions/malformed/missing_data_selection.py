"""Malformed: no data_selection."""
from malformed_base import get_batch_size, init_optimizer_state, update_params  # noqa: F401
