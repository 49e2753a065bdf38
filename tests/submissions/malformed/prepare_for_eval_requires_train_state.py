"""Malformed: prepare_for_eval requires `train_state`, which the runner passes only to
update_params, so the first eval fails."""
from malformed_base import data_selection, get_batch_size, init_optimizer_state, update_params  # noqa: F401


def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step,
                     rng, train_state):
  return optimizer_state, current_param_container, model_state
