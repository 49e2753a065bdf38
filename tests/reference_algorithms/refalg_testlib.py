"""Helpers for the reference-algorithm tests: paths, hyperparameters, a short trial loop."""

from __future__ import annotations

import collections
import importlib
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_TESTS = os.path.dirname(_HERE)
REPO_ROOT = os.path.dirname(_TESTS)
for _path in (REPO_ROOT, _TESTS):
  if _path not in sys.path:
    sys.path.insert(0, _path)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from toy_workload import ToyRegressionWorkload  # noqa: E402

from algoperf import spec  # noqa: E402

REFERENCE_DIR = os.path.join(REPO_ROOT, 'reference_algorithms')


def load(name: str):
  """The submission module of reference_algorithms/<name>."""
  return importlib.import_module(f'reference_algorithms.{name}.submission')


def hparams(**values):
  """An AlgoPerf-style hyperparameter namedtuple."""
  return collections.namedtuple('Hyperparameters', sorted(values))(**values)


def adam_like(**overrides):
  values = dict(learning_rate=0.05, one_minus_beta1=0.1, beta2=0.99, warmup_factor=0.05,
                weight_decay=0.0)
  values.update(overrides)
  return hparams(**values)


class RecordingToy(ToyRegressionWorkload):
  """Toy workload that records what the train step hands model_fn and loss_fn.

  Records happen at trace time (Python side effects), so they also count compilations.
  """

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.train_traces = 0
    self.dropout_rates = []
    self.label_smoothings = []

  def model_fn(self, params, batch, model_state, mode, rng, update_batch_norm,
               dropout_rate=None):
    if mode == spec.ForwardPassMode.TRAIN:
      self.train_traces += 1
      self.dropout_rates.append(dropout_rate)
    return super().model_fn(params, batch, model_state, mode, rng, update_batch_norm,
                            dropout_rate)

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
    self.label_smoothings.append(label_smoothing)
    return super().loss_fn(label_batch, logits_batch, mask_batch, label_smoothing)


class ListLogger:
  def __init__(self):
    self.rows = []

  def append_scalar_metrics(self, metrics, global_step):
    self.rows.append((global_step, dict(metrics)))


def validation_loss(workload, params, model_state) -> float:
  return workload._eval_model_on_split('validation', workload.num_validation_examples, 64,
                                       params, model_state, None, None)['loss']


def run_trial(submission, workload, hyperparameters, num_steps: int, seed: int = 0,
              batch_size: int = 32):
  """Drive a submission through the AlgoPerf call sequence; returns the final states."""
  rng = jax.random.key(seed)
  model_rng, opt_rng, data_rng, step_rng = jax.random.split(rng, 4)
  params, model_state = workload.init_model_fn(model_rng)
  optimizer_state = submission.init_optimizer_state(
      workload, params, model_state, hyperparameters, opt_rng)
  queue = workload._build_input_queue(data_rng, 'train', None, batch_size)
  for step in range(num_steps):
    key = jax.random.fold_in(step_rng, step)
    batch = submission.data_selection(workload, queue, optimizer_state, params, model_state,
                                      hyperparameters, step, key)
    optimizer_state, params, model_state = submission.update_params(
        workload=workload, current_param_container=params,
        current_params_types=workload.model_params_types, model_state=model_state,
        hyperparameters=hyperparameters, batch=batch, loss_type=workload.loss_type,
        optimizer_state=optimizer_state, eval_results=[], global_step=step, rng=key,
        train_state={})
  return optimizer_state, params, model_state


def initial_validation_loss(workload, seed: int = 0) -> float:
  model_rng = jax.random.split(jax.random.key(seed), 4)[0]
  params, model_state = workload.init_model_fn(model_rng)
  return validation_loss(workload, params, model_state)


def run_optax(tx, grads, theta0):
  """Apply `tx` to float32 copies of `theta0` for each gradient in `grads`, as a jitted update.

  Returns the final parameters as NumPy arrays and the final optimizer state, for checks
  against NumPy transcriptions of the same rule.
  """
  params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), theta0)
  state = tx.init(params)
  update = jax.jit(tx.update)
  for g in grads:
    updates, state = update(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), state,
                            params)
    params = optax.apply_updates(params, updates)
  return jax.tree.map(np.asarray, params), state
