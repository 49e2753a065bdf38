"""Hostile in trial 1, a witness in trial 2: trial 1 marks the workload's class and module;
trial 2 fails if it sees the marks (changes must never leak into later trials)."""
import malformed_base
import toy_workload
from malformed_base import data_selection, get_batch_size, update_params  # noqa: F401


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  if getattr(toy_workload, 'LEAKED', False) or hasattr(workload, 'leaked'):
    raise RuntimeError('state from an earlier trial leaked into this one')
  toy_workload.LEAKED = True
  toy_workload.ToyRegressionWorkload.leaked = True
  return malformed_base.init_optimizer_state(workload, model_params, model_state,
                                             hyperparameters, rng)
