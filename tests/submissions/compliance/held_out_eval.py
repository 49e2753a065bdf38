"""Evaluates on the held-out splits from a helper whose parameter is not named `workload`."""

from compliance_base import data_selection, get_batch_size, init_optimizer_state, sgd_step  # noqa: F401


def _peek(wl, params, model_state, rng):
  return wl._eval_model_on_split('validation', 1000, 256, params, model_state, rng, '/tmp')


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  if global_step % 100 == 0:
    _peek(workload, current_param_container, model_state, rng)
  return sgd_step(workload, optimizer_state, current_param_container, model_state, batch, rng)
