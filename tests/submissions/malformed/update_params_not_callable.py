"""Malformed: update_params is a dict of settings, not a function."""
from malformed_base import data_selection, get_batch_size, init_optimizer_state  # noqa: F401

update_params = {'learning_rate': 0.1}
