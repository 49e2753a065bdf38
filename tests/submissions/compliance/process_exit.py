"""Ends the process from update_params."""

import sys

from compliance_base import data_selection, get_batch_size, init_optimizer_state, sgd_step  # noqa: F401


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  if global_step > 10:
    sys.exit(0)
  return sgd_step(workload, optimizer_state, current_param_container, model_state, batch, rng)
