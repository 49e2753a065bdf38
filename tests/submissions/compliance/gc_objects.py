"""Finds the runner's objects on the heap through a from-import of gc."""

from gc import get_objects

from compliance_base import data_selection, get_batch_size, init_optimizer_state, sgd_step  # noqa: F401


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  found = [o for o in get_objects() if type(o).__name__.endswith('Workload')]
  del found
  return sgd_step(workload, optimizer_state, current_param_container, model_state, batch, rng)
