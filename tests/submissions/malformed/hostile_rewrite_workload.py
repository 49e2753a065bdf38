"""Hostile: replaces the workload's eval_model, targets, budget and eval period on the
object it receives, and through the workload's class, so that any run "reaches" the target
at once and evals fall due every step. None of it may change what the runner records."""
import malformed_base
import toy_workload
from malformed_base import data_selection, get_batch_size, update_params  # noqa: F401


def _perfect_eval(*args, **kwargs):
  del args, kwargs
  return {'train/loss': -5.0, 'validation/loss': -5.0, 'test/loss': -5.0}


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  workload.eval_model = _perfect_eval
  workload.validation_target_value = 1e9
  workload.test_target_value = 1e9
  workload.max_allowed_runtime_sec = 1e9
  workload.eval_period_time_sec = 0.0
  cls = toy_workload.ToyRegressionWorkload
  cls.eval_model = _perfect_eval
  cls.validation_target_value = property(lambda self: 1e9)
  cls.test_target_value = property(lambda self: 1e9)
  cls.eval_period_time_sec = property(lambda self: 0.0)
  return malformed_base.init_optimizer_state(workload, model_params, model_state,
                                             hyperparameters, rng)
