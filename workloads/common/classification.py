"""The base of every classification workload: in-memory splits, softmax cross-entropy,
accuracy target, masked eval.

A subclass supplies its constants (target, budget, sizes), `build_model()` and
`load_splits(data_dir)`; everything a runner or submission calls lives here once.
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from algoperf import jax_sharding_utils, spec
from algoperf.data import in_memory
from workloads.common import param_types

Arrays = dict[str, np.ndarray]
Splits = dict[str, Arrays]  # 'train', 'eval_train', 'validation', 'test'


def softmax_cross_entropy(label_batch, logits_batch, num_classes: int, mask_batch=None,
                          label_smoothing: float = 0.0) -> dict[str, Any]:
  """AlgoPerf's classification `loss_fn`: per-example CE, zeroed where `mask_batch` is 0.

  Integer labels are one-hot encoded; labels shaped like the logits are used as given.
  Smoothing mixes the targets with the uniform distribution (`optax.smooth_labels`).
  """
  if label_batch.ndim == logits_batch.ndim:
    targets = label_batch
  else:
    targets = jax.nn.one_hot(label_batch, num_classes)
  targets = optax.smooth_labels(targets, label_smoothing)
  per_example = optax.softmax_cross_entropy(logits_batch, targets)
  if mask_batch is None:
    n_valid = per_example.shape[0]
  else:
    per_example = per_example * mask_batch
    n_valid = mask_batch.sum()
  return {'summed': per_example.sum(), 'n_valid_examples': n_valid,
          'per_example': per_example}


class ClassificationWorkload(spec.Workload):
  """Softmax classification over splits held in host memory."""

  # Subclasses set these (one place per workload for its target/budget constants).
  num_classes: int = 10
  input_shape: tuple[int, ...] = ()
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
  TRAIN_MEAN: Any = 0.0  # Input standardisation: (x - mean) / stddev, per channel or scalar.
  TRAIN_STDDEV: Any = 1.0

  target_metric_name = 'accuracy'
  loss_type = spec.LossType.SOFTMAX_CROSS_ENTROPY

  def __init__(self) -> None:
    super().__init__()
    self._model = self.build_model()
    self._splits: Splits | None = None
    # Jitted once per workload object: every eval call reuses its compilation.
    self._eval_step = jax.jit(self._batch_metrics)

  # --- what a subclass provides ----------------------------------------------------

  @abc.abstractmethod
  def build_model(self) -> nn.Module:
    """The Flax module; `__call__(x, train)` and an `output_layer_name` attribute."""

  @abc.abstractmethod
  def load_splits(self, data_dir: str | None) -> Splits:
    """Host arrays for 'train', 'eval_train', 'validation', 'test' ({'inputs','targets'})."""

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

  @property
  def train_mean(self) -> Any:
    return self.TRAIN_MEAN

  @property
  def train_stddev(self) -> Any:
    return self.TRAIN_STDDEV

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

  # --- model ---------------------------------------------------------------------------

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    del dropout_rate, aux_dropout_rate  # These models have no dropout.
    init = jax.jit(functools.partial(self._model.init, train=False))
    variables = dict(init({'params': rng}, jnp.zeros((1, *self.input_shape), jnp.float32)))
    params = variables.pop('params')
    model_state = variables or None
    self.set_param_shapes_and_types(params, param_types.infer_param_types(params))
    return (jax_sharding_utils.replicate(params),
            None if model_state is None else jax_sharding_utils.replicate(model_state))

  def is_output_params(self, param_key: spec.ParameterKey) -> bool:
    return param_key == self._model.output_layer_name

  def model_fn(self, params, augmented_and_preprocessed_input_batch, model_state, mode, rng,
               update_batch_norm, dropout_rate=None):
    """Batch statistics are used and updated iff `update_batch_norm` (AlgoPerf's rule)."""
    del mode, rng, dropout_rate
    inputs = augmented_and_preprocessed_input_batch['inputs']
    variables = {'params': params, **(model_state or {})}
    if update_batch_norm and model_state:
      logits, new_model_state = self._model.apply(
          variables, inputs, train=True, mutable=list(model_state))
      return logits, new_model_state
    return self._model.apply(variables, inputs, train=False), model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
    return softmax_cross_entropy(label_batch, logits_batch, self.num_classes, mask_batch,
                                 label_smoothing)

  # --- evaluation ----------------------------------------------------------------------

  def _batch_metrics(self, params, model_state, batch):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, None,
                              update_batch_norm=False)
    weights = batch['weights']
    loss = self.loss_fn(batch['targets'], logits, weights)
    correct = jnp.sum((jnp.argmax(logits, axis=-1) == batch['targets']) * weights)
    return {'loss': loss['summed'], 'accuracy': correct, 'count': loss['n_valid_examples']}

  def _eval_model_on_split(self, split, num_examples, global_batch_size, params, model_state,
                           rng, data_dir, global_step=0):
    del rng, global_step
    totals = None
    for batch in in_memory.eval_batches(self.splits(data_dir)[split], global_batch_size,
                                        num_examples):
      metrics = self._eval_step(params, model_state, batch)
      totals = metrics if totals is None else jax.tree.map(jnp.add, totals, metrics)
    count = float(totals.pop('count'))
    return {name: float(value) / count for name, value in totals.items()}
