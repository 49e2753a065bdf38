"""Malformed: prepare_for_eval returns params without the bias."""
from malformed_base import data_selection, get_batch_size, init_optimizer_state, update_params  # noqa: F401


def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step,
                     rng):
  params = {'dense': {'kernel': current_param_container['dense']['kernel']}}
  return optimizer_state, params, model_state
