"""Malformed: imports a module that does not exist."""
import algoperf_no_such_module_for_tests  # noqa: F401
from malformed_base import data_selection, get_batch_size, init_optimizer_state, update_params  # noqa: F401
