"""The diagnoses' observer: per-step losses and gradient norms, logged off the clock.

The runner (algoperf/observers.py) hands `before_update` the params a step starts from and
the batch it trains on, with the submission clock stopped. On a probed step this observer
measures, with the workload's own `model_fn` in EVAL mode and `loss_fn` (the instruments'
per-example loss, docs/instruments.md):

* `train_loss`: the mean loss of the mini-batch the step trains on (always);
* `validation_subset_loss`: the mean loss on a fixed subset of the validation split;
* `train_subset_grad_norm`: the L2 norm of the gradient of the mean loss over a fixed,
  large subset of the training data (the `eval_train` split): the "full" gradient;
* `batch_grad_norm`: the same norm on the step's mini-batch (what clipping acts on).

It finishes before returning (the update may donate the buffers it read) and changes
nothing, so training is the same with and without it. Rows go to `<trial>/diagnosis.csv`
(appended and flushed row by row); a resumed trial first drops the rows it will redo.
A value at `global_step` g is measured at the params after g updates, like an eval row's.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import logs
from algoperf.observers import TrialContext, TrialObserver

PROBE_CSV = 'diagnosis.csv'
QUANTITIES = ('train_loss', 'validation_subset_loss', 'train_subset_grad_norm',
              'batch_grad_norm')
# Subset examples per forward/backward pass: bounds the memory of the subset's gradient.
CHUNK_EXAMPLES = 256
# The fixed subsets are the first examples of their split, always the same ones.
_SUBSET_KEY_SEED = 0


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
  """What to log and how often; called with a trial's context, it is that trial's
  observer (picklable: a trial process builds its own)."""
  every: int = 1
  validation_subset: int = 0     # examples of the validation subset (0: not logged)
  grad_subset: int = 0           # examples of the train subset for the gradient norm (0: off)
  batch_grad_norm: bool = False
  data_dir: str = ''

  def __call__(self, context: TrialContext) -> ProbeObserver:
    return ProbeObserver(self, context)


def fixed_subset(workload, split: str, size: int, data_dir: str) -> dict[str, np.ndarray]:
  """The first `size` examples of `split` (fewer if the split is smaller), through the
  workload's own eval input pipeline, as one host batch (padding rows have weight 0)."""
  size = min(size, _split_size(workload, split))
  queue = workload._build_input_queue(jax.random.PRNGKey(_SUBSET_KEY_SEED), split, data_dir,
                                      global_batch_size=size, num_batches=1)
  batch = next(iter(queue))
  return {k: np.asarray(v) for k, v in batch.items()}


def _split_size(workload, split: str) -> int:
  return int({'validation': workload.num_validation_examples,
              'eval_train': workload.num_eval_train_examples}[split])


def _chunks(batch: dict[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
  rows = len(next(iter(batch.values())))
  return [{k: v[i:i + size] for k, v in batch.items()} for i in range(0, rows, size)]


class ProbeObserver(TrialObserver):
  """One trial's probe: measures the wanted steps and appends their rows."""

  def __init__(self, settings: ProbeSettings, context: TrialContext):
    if context.log_dir is None:
      raise ValueError('a diagnosis probe needs a trial folder to write its log to')
    from algoperf.instruments import per_example_loss_fn
    self._settings = settings
    self._context = context
    self._csv = logs.CsvAppender(os.path.join(context.log_dir, PROBE_CSV))
    if context.resumed_at is not None and os.path.exists(self._csv.path):
      self._csv.drop_rows_after_step(context.resumed_at - 1)  # Steps this attempt redoes.
    loss_fn = per_example_loss_fn(context.workload, context.initial_model_state,
                                  flag='diagnose.py')

    def summed(params, model_state, batch):
      losses, valid = loss_fn(params, batch, model_state)
      return jnp.sum(jnp.where(valid, losses, 0.0)), jnp.sum(valid)

    def summed_grad(params, model_state, batch):
      (total, count), grads = jax.value_and_grad(summed, has_aux=True)(
          params, model_state, batch)
      return total, count, grads

    self._summed = jax.jit(summed)
    self._summed_grad = jax.jit(summed_grad)
    workload, data_dir = context.workload, settings.data_dir
    self._validation = (_chunks(fixed_subset(workload, 'validation',
                                             settings.validation_subset, data_dir),
                                CHUNK_EXAMPLES) if settings.validation_subset else None)
    self._train_subset = (_chunks(fixed_subset(workload, 'eval_train', settings.grad_subset,
                                               data_dir), CHUNK_EXAMPLES)
                          if settings.grad_subset else None)

  def wants(self, step: int) -> bool:
    return step % self._settings.every == 0

  def before_update(self, step: int, params, model_state, batch) -> None:
    """Measure at the params the step starts from; done (synced) before the update runs."""
    params, model_state = self._context.to_workload_form(params, model_state)
    batch = self._context.batch_to_workload_form(batch)
    row: dict[str, Any] = {'global_step': step,
                           'preemption_count': self._context.preemption_count}
    if self._settings.batch_grad_norm:
      total, count, grads = self._summed_grad(params, model_state, batch)
      row['train_loss'] = float(total / count)
      row['batch_grad_norm'] = _norm(grads) / float(count)
    else:
      total, count = self._summed(params, model_state, batch)
      row['train_loss'] = float(total / count)
    if self._validation is not None:
      row['validation_subset_loss'] = self._mean_loss(params, model_state, self._validation)
    if self._train_subset is not None:
      row['train_subset_grad_norm'] = self._mean_grad_norm(params, model_state,
                                                           self._train_subset)
    self._csv.append(row)

  def _mean_loss(self, params, model_state, chunks) -> float:
    totals = [self._summed(params, model_state, c) for c in chunks]
    return float(sum(t for t, _ in totals) / sum(n for _, n in totals))

  def _mean_grad_norm(self, params, model_state, chunks) -> float:
    """‖∇ mean loss‖ over all chunks: the chunks' summed gradients add up exactly."""
    grads, count = None, 0.0
    for chunk in chunks:
      _, n, g = self._summed_grad(params, model_state, chunk)
      grads = g if grads is None else jax.tree.map(jnp.add, grads, g)
      count += float(n)
    return _norm(grads) / count


def _norm(tree) -> float:
  return float(jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree))))


def read(trial_dir: str):
  """The probe log of a trial as a pandas DataFrame (empty when nothing was logged), one
  row per probed step; a row redone after a resume appears once."""
  import pandas as pd
  path = os.path.join(trial_dir, PROBE_CSV)
  if not os.path.exists(path) or not os.path.getsize(path):
    return pd.DataFrame(columns=['global_step'])
  frame = pd.read_csv(path)
  return frame.drop_duplicates('global_step', keep='last').sort_values('global_step')
