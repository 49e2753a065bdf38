"""Hostile: data_selection raises SystemExit(3) at step 2."""
import malformed_base
from malformed_base import get_batch_size, init_optimizer_state, update_params  # noqa: F401


def data_selection(*args):
  if args[6] == 2:
    raise SystemExit(3)
  return malformed_base.data_selection(*args)
