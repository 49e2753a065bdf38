"""Malformed: no update_params."""
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401
