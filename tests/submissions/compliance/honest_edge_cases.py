"""Honest code that resembles what the compliance check flags; it must give no findings.

Reads the workload's public members (split sizes included), logs its own metric names,
reads eval_results, shadows a builtin, and uses gc/os/inspect functions that reach nothing
of the runner's.
"""

import gc
import inspect
import os
import re

import jax
from compliance_base import data_selection, get_batch_size, init_optimizer_state, sgd_step

__all__ = ['data_selection', 'get_batch_size', 'init_optimizer_state', 'update_params']

_NAME = re.compile(r'^[a-z_]+$')


def open(name):  # shadows the builtin on purpose: calling it is no file access
  return name


def _fraction_seen(workload, global_step, batch_size):
  examples = workload.num_validation_examples + (workload.num_test_examples or 0)
  return global_step * batch_size / (workload.num_train_examples + examples)


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None):
  del current_params_types, hyperparameters, loss_type, train_state
  optimizer_state, params, model_state = sgd_step(
      workload, optimizer_state, current_param_container, model_state, batch, rng)
  logger = getattr(workload, 'metrics_logger', None)
  if global_step % 100 == 0 and logger is not None:
    last = eval_results[-1][1].get('validation/loss') if eval_results else None
    metrics = {'fraction_seen': _fraction_seen(workload, global_step, 32),
               'last_validation_loss': last, 'workload': open(type(workload).__name__),
               'same_class': workload.__class__.__name__ == 'ToyWorkload'}
    logger.append_scalar_metrics(metrics, global_step)
  if global_step % 1000 == 0:
    gc.collect()
  jax.tree.map(lambda s: s.shape_tuple, workload.param_shapes)
  assert inspect.signature(update_params).parameters
  assert os.path.join('a', 'b') and _NAME.match('update_params')
  return optimizer_state, params, model_state
