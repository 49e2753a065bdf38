"""The base of every workload whose splits fit in host memory: its constants as the spec's
properties, the train/eval input queues and a masked, summed evaluation.

Subclasses (classification, loss-target) supply `load_splits(data_dir)`, the model and
`_metrics_from_outputs(outputs, batch)`, which turns the model's eval outputs on one batch
into per-batch sums plus a 'count'. Ensembles (`spec.Ensemble`, docs/ensembles.md) run the
members in one vmapped pass and combine their outputs with `combine_ensemble_outputs`.
"""

from __future__ import annotations

import abc
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import spec
from algoperf.data import in_memory

Arrays = dict[str, np.ndarray]
Splits = dict[str, Arrays]  # 'train', 'eval_train', 'validation', 'test'


def masked_loss_output(per_example, mask_batch=None) -> dict[str, Any]:
  """AlgoPerf's `loss_fn` result from per-example losses, zeroed where `mask_batch` is 0."""
  if mask_batch is None:
    n_valid = per_example.shape[0]
  else:
    per_example = per_example * mask_batch
    n_valid = mask_batch.sum()
  return {'summed': per_example.sum(), 'n_valid_examples': n_valid,
          'per_example': per_example}


class InMemoryWorkload(spec.Workload):
  """Constants, input queues and evaluation over splits held in host memory."""

  # Subclasses set these (targets, budget, eval period and step hint usually through
  # `suite_constants.from_suite`).
  VALIDATION_TARGET: float
  TEST_TARGET: float
  BUDGET_SEC: float
  EVAL_PERIOD_SEC: float
  STEP_HINT: int
  NUM_TRAIN: int
  NUM_EVAL_TRAIN: int
  NUM_VALIDATION: int
  NUM_TEST: int
  EVAL_BATCH_SIZE: int
  DEFAULT_BATCH_SIZE: int

  # Where the splits were read from, for the trial's meta data (a reader can tell which
  # copy a run used): a directory, 'generated' or 'generated, cached at <path>'. Set by
  # `load_splits`; None until the splits load.
  data_location: str | None = None

  def __init__(self) -> None:
    super().__init__()
    self._splits: Splits | None = None
    # Jitted once per workload object: every eval call reuses its compilation.
    self._eval_step = jax.jit(self._batch_metrics)
    self._ensemble_eval_step = jax.jit(self._ensemble_batch_metrics)

  @abc.abstractmethod
  def load_splits(self, data_dir: str | None) -> Splits:
    """Host arrays for 'train', 'eval_train', 'validation', 'test' ({'inputs','targets'}).

    Sets `data_location`. A `data_dir` that is given is the only place looked in: data
    missing there raises `DatasetUnavailableError`, never a read of another copy.
    """

  @abc.abstractmethod
  def _metrics_from_outputs(self, outputs, batch) -> dict[str, Any]:
    """Sums over one masked eval batch of the model's outputs, with the number of valid
    examples as 'count'."""

  def _eval_outputs(self, params, model_state, batch):
    """The model's eval-mode outputs on one batch (running batch-norm statistics)."""
    outputs, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, None,
                               update_batch_norm=False)
    return outputs

  def _batch_metrics(self, params, model_state, batch) -> dict[str, Any]:
    return self._metrics_from_outputs(self._eval_outputs(params, model_state, batch), batch)

  def _ensemble_batch_metrics(self, ensemble: spec.Ensemble, batch) -> dict[str, Any]:
    """The metrics of the members' combined prediction on one batch."""
    outputs = jax.vmap(self._eval_outputs, in_axes=(0, 0, None))(
        ensemble.params, ensemble.model_state, batch)
    return self._metrics_from_outputs(self.combine_ensemble_outputs(outputs), batch)

  @property
  def supports_ensemble_eval(self) -> bool:
    return (type(self).combine_ensemble_outputs
            is not spec.Workload.combine_ensemble_outputs)

  def train_augment(self) -> in_memory.Augment | None:
    """Per-batch host transform of train batches (random crops...), if any."""
    return None

  # --- constants as the spec's properties ------------------------------------------

  @property
  def validation_target_value(self) -> float:
    return self.VALIDATION_TARGET

  @property
  def test_target_value(self) -> float:
    return self.TEST_TARGET

  @property
  def max_allowed_runtime_sec(self) -> float:
    return self.BUDGET_SEC

  @property
  def eval_period_time_sec(self) -> float:
    return self.EVAL_PERIOD_SEC

  @property
  def step_hint(self) -> int:
    return self.STEP_HINT

  @property
  def num_train_examples(self) -> int:
    return self.NUM_TRAIN

  @property
  def num_eval_train_examples(self) -> int:
    return self.NUM_EVAL_TRAIN

  @property
  def num_validation_examples(self) -> int:
    return self.NUM_VALIDATION

  @property
  def num_test_examples(self) -> int:
    return self.NUM_TEST

  @property
  def eval_batch_size(self) -> int:
    return self.EVAL_BATCH_SIZE

  @property
  def default_batch_size(self) -> int:
    return self.DEFAULT_BATCH_SIZE

  # --- data --------------------------------------------------------------------------

  def splits(self, data_dir: str | None) -> Splits:
    """The splits, loaded on first use and kept for this workload object's lifetime."""
    if self._splits is None:
      self._splits = self.load_splits(data_dir)
    return self._splits

  def _build_input_queue(self, data_rng, split, data_dir, global_batch_size, cache=None,
                         repeat_final_dataset=None, num_batches=None):
    del cache, repeat_final_dataset
    splits = self.splits(data_dir)
    if split == 'train':
      return in_memory.TrainBatches(splits['train'], global_batch_size,
                                    seed=in_memory.seed_from_rng(data_rng),
                                    augment=self.train_augment())
    num_examples = None if num_batches is None else num_batches * global_batch_size
    return in_memory.eval_batches(splits[split], global_batch_size, num_examples)

  # --- evaluation ----------------------------------------------------------------------

  def _eval_model_on_split(self, split, num_examples, global_batch_size, params, model_state,
                           rng, data_dir, global_step=0):
    del rng, global_step
    if isinstance(params, spec.Ensemble):
      if not self.supports_ensemble_eval:
        self.combine_ensemble_outputs(None)  # raises the workload's EnsembleError
      step = self._ensemble_eval_step
      if model_state is not None and params.model_state is None:
        params = spec.Ensemble(params.params, jax.tree.map(
            lambda x: jnp.broadcast_to(x, (params.num_members, *x.shape)), model_state))
      args = (params,)
    else:
      step, args = self._eval_step, (params, model_state)
    totals = None
    for batch in in_memory.eval_batches(self.splits(data_dir)[split], global_batch_size,
                                        num_examples):
      metrics = step(*args, batch)
      totals = metrics if totals is None else jax.tree.map(jnp.add, totals, metrics)
    count = float(totals.pop('count'))
    return {name: float(value) / count for name, value in totals.items()}
