"""Plain SGD that records, at every step, the train_state it is given and the wall time."""

import time

from sgd import data_selection, get_batch_size, init_optimizer_state  # noqa: F401
from sgd import update_params as _sgd_update_params

SEEN = []  # (global_step, dict(train_state), time.time() when update_params was called)


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state):
  SEEN.append((global_step, dict(train_state), time.time()))
  return _sgd_update_params(
      workload, current_param_container, current_params_types, model_state, hyperparameters,
      batch, loss_type, optimizer_state, eval_results, global_step, rng)
