"""Plain SGD whose first update sleeps: its first eval falls after a short budget."""

import time

from sgd import data_selection, get_batch_size, init_optimizer_state  # noqa: F401
from sgd import update_params as _sgd_update_params

FIRST_STEP_SEC = 0.5


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng):
  if global_step == 0:
    time.sleep(FIRST_STEP_SEC)
  return _sgd_update_params(
      workload, current_param_container, current_params_types, model_state, hyperparameters,
      batch, loss_type, optimizer_state, eval_results, global_step, rng)
