"""Reads a private workload member through an alias of `workload`."""

from compliance_base import data_selection, get_batch_size, init_optimizer_state, sgd_step  # noqa: F401


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  w = workload
  shapes = w._param_shapes  # the workload's internals, not the submission API
  del shapes
  return sgd_step(workload, optimizer_state, current_param_container, model_state, batch, rng)
