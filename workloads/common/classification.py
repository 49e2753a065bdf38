"""The base of every classification workload: softmax cross-entropy, accuracy target.

A subclass supplies its constants (target, budget, sizes), `build_model()` and
`load_splits(data_dir)`; the in-memory splits, input queues and masked eval come from
`InMemoryWorkload`.
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from algoperf import jax_sharding_utils, spec
from workloads.common import param_types
from workloads.common.in_memory_workload import InMemoryWorkload, masked_loss_output


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
  return masked_loss_output(per_example, mask_batch)


class ClassificationWorkload(InMemoryWorkload):
  """Softmax classification over splits held in host memory."""

  num_classes: int = 10
  input_shape: tuple[int, ...] = ()
  TRAIN_MEAN: Any = 0.0  # Input standardisation: (x - mean) / stddev, per channel or scalar.
  TRAIN_STDDEV: Any = 1.0

  target_metric_name = 'accuracy'
  loss_type = spec.LossType.SOFTMAX_CROSS_ENTROPY

  def __init__(self) -> None:
    self._model = self.build_model()
    # Jitted once per workload object: a new `jax.jit` per call would recompile the model's
    # init for every trial (seconds for a CNN on CPU).
    self._init_variables = jax.jit(functools.partial(self._model.init, train=False))
    super().__init__()

  # --- what a subclass provides ----------------------------------------------------

  @abc.abstractmethod
  def build_model(self) -> nn.Module:
    """The Flax module; `__call__(x, train)` and an `output_layer_name` attribute."""

  # --- input standardisation constants --------------------------------------------

  @property
  def train_mean(self) -> Any:
    return self.TRAIN_MEAN

  @property
  def train_stddev(self) -> Any:
    return self.TRAIN_STDDEV

  # --- model ---------------------------------------------------------------------------

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    del dropout_rate, aux_dropout_rate  # These models have no dropout.
    variables = dict(self._init_variables({'params': rng},
                                          jnp.zeros((1, *self.input_shape), jnp.float32)))
    params = variables.pop('params')
    model_state = variables or None
    self.set_param_shapes_and_types(params, param_types.infer_param_types(params))
    return (jax_sharding_utils.replicate(params),
            None if model_state is None else jax_sharding_utils.replicate(model_state))

  def is_output_params(self, param_key: spec.ParameterKey) -> bool:
    return param_key == self._model.output_layer_name

  def parameter_groups_input_to_output(self) -> list[list[spec.ParameterKey]]:
    """The model's own `layer_groups` where it has them (sorted Flax names are not depth
    order for every model), else the spec's natural-order default."""
    groups = getattr(self._model, 'layer_groups', None)
    return groups if groups is not None else super().parameter_groups_input_to_output()

  def model_fn(self, params, augmented_and_preprocessed_input_batch, model_state, mode, rng,
               update_batch_norm, use_running_average_bn=None, dropout_rate=None):
    """Batch statistics are used and updated iff `update_batch_norm` (AlgoPerf's rule);
    `use_running_average_bn` (AlgoPerf's batch-norm workloads) overrides which statistics
    normalise: True the running averages (nothing is updated), False the batch's."""
    del mode, rng, dropout_rate
    inputs = augmented_and_preprocessed_input_batch['inputs']
    variables = {'params': params, **(model_state or {})}
    batch_statistics = (update_batch_norm if use_running_average_bn is None
                        else not use_running_average_bn)
    if batch_statistics and model_state:
      logits, new_model_state = self._model.apply(
          variables, inputs, train=True, mutable=list(model_state))
      return logits, (new_model_state if update_batch_norm else model_state)
    return self._model.apply(variables, inputs, train=False), model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
    return softmax_cross_entropy(label_batch, logits_batch, self.num_classes, mask_batch,
                                 label_smoothing)

  # --- evaluation ----------------------------------------------------------------------

  def combine_ensemble_outputs(self, member_outputs):
    """Log of the members' mean predicted probabilities: softmax of it is their average."""
    log_probs = jax.nn.log_softmax(member_outputs, axis=-1)
    return jax.nn.logsumexp(log_probs, axis=0) - jnp.log(member_outputs.shape[0])

  def _metrics_from_outputs(self, logits, batch):
    weights = batch['weights']
    loss = self.loss_fn(batch['targets'], logits, weights)
    correct = jnp.sum((jnp.argmax(logits, axis=-1) == batch['targets']) * weights)
    return {'loss': loss['summed'], 'accuracy': correct, 'count': loss['n_valid_examples']}
