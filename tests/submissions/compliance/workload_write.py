"""Replaces the workload's evaluation with setattr and drops its metrics logger."""

from compliance_base import data_selection, get_batch_size, init_optimizer_state, sgd_step  # noqa: F401


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  setattr(workload, 'eval_model', lambda *args, **kwargs: {'validation/accuracy': 1.0})  # noqa: B010
  workload.metrics_logger = None
  return sgd_step(workload, optimizer_state, current_param_container, model_state, batch, rng)
