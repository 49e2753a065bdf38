"""A package submission that looks clean: the flagged code is in its sibling `helpers`.

It reaches `helpers` twice, relatively and through its own package, so the check must scan
that module once and report its finding once.
"""

from compliance_base import data_selection, get_batch_size, init_optimizer_state, sgd_step  # noqa: F401

from . import helpers
from .helpers import log_progress


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  log_progress(workload, current_param_container, model_state, rng, global_step)
  assert helpers.log_progress is log_progress
  return sgd_step(workload, optimizer_state, current_param_container, model_state, batch, rng)
