"""The contract between the runner, workloads and submissions.

Names, enum members and signatures match MLCommons AlgoPerf's JAX API (v0.6) so that a
submission written against `algoperf.spec` there imports and runs here unchanged.
Additions (metric direction, a default target check, a default `eval_model`) are
backwards-compatible: an AlgoPerf workload subclass still works.
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Callable, Iterator
from typing import Any

import jax

# Submissions may import only `algoperf.spec`: the ensemble type of `prepare_for_eval`'s
# extension (algoperf/ensemble.py, docs/ensembles.md) is reached from here.
from algoperf.ensemble import Ensemble, EnsembleError  # noqa: F401


class LossType(enum.Enum):
  SOFTMAX_CROSS_ENTROPY = 0
  SIGMOID_CROSS_ENTROPY = 1
  MEAN_SQUARED_ERROR = 2
  CTC_LOSS = 3
  MEAN_ABSOLUTE_ERROR = 4


class ForwardPassMode(enum.Enum):
  TRAIN = 0
  EVAL = 1


class ParameterType(enum.Enum):
  WEIGHT = 0
  BIAS = 1
  CONV_WEIGHT = 2
  BATCH_NORM_SCALE = 3
  BATCH_NORM_BIAS = 4
  LAYER_NORM_SCALE = 5
  LAYER_NORM_BIAS = 6
  EMBEDDING = 7
  ATTENTION_Q = 8
  ATTENTION_K = 9
  ATTENTION_V = 10
  ATTENTION_OUT = 11
  ATTENTION_QKV = 12
  ATTENTION_KV = 13
  ATTENTION_BIAS = 14


Tensor = Any


class ShapeTuple:
  """A shape kept as one pytree leaf, so tree utilities do not descend into it."""

  def __init__(self, shape_tuple):
    self.shape_tuple = tuple(shape_tuple)

  def __repr__(self):
    return f'ShapeTuple({self.shape_tuple})'

  def __eq__(self, other):
    return isinstance(other, ShapeTuple) and self.shape_tuple == other.shape_tuple

  def __hash__(self):
    return hash(self.shape_tuple)


Shape = tuple[int, ...] | ShapeTuple
ParameterShapeTree = dict[str, Any]
ParameterKey = str
ParameterContainer = dict[ParameterKey, Any]
ParameterTypeTree = dict[ParameterKey, Any]
RandomState = Any
OptimizerState = dict[str, Any] | tuple[Any, Any] | Any
Hyperparameters = Any
Timing = int
Steps = int
ModelAuxiliaryState = Any
ModelInitState = tuple[ParameterContainer, ModelAuxiliaryState]
UpdateReturn = tuple[OptimizerState, ParameterContainer, ModelAuxiliaryState]

EVAL_SPLITS = ('eval_train', 'validation', 'test')
SPLIT_PREFIX = {'eval_train': 'train', 'validation': 'validation', 'test': 'test'}


class TrainingCompleteError(Exception):
  """Raised by `update_params` to end training early (followed by a final free eval)."""


class Workload(metaclass=abc.ABCMeta):
  """A model, dataset, loss, target and budget: what a submission is timed on.

  Subclasses implement the abstract members. `init_model_fn` implementations must set
  `self._param_shapes` and `self._param_types` (see `set_param_shapes_and_types`).
  """

  def __init__(self, *args, **kwargs) -> None:
    del args, kwargs
    self._param_shapes: ParameterShapeTree | None = None
    self._param_types: ParameterTypeTree | None = None
    self._eval_iters: dict[str, Iterator] = {}
    self.metrics_logger = None

  # --- identity, target and budget -------------------------------------------------

  @property
  @abc.abstractmethod
  def target_metric_name(self) -> str:
    """Name of the metric the target is set on, without split prefix (e.g. 'accuracy')."""

  @property
  def target_metric_higher_is_better(self) -> bool:
    """Direction of the target metric; error rates and losses override this with False."""
    return True

  @property
  @abc.abstractmethod
  def validation_target_value(self) -> float:
    """The validation target value to reach."""

  @property
  @abc.abstractmethod
  def test_target_value(self) -> float:
    """The test target value to reach."""

  def _meets_target(self, eval_result: dict[str, float], split: str, target: float) -> bool:
    value = eval_result.get(f'{split}/{self.target_metric_name}')
    if value is None:
      return False
    if self.target_metric_higher_is_better:
      return value >= target
    return value <= target

  def has_reached_validation_target(self, eval_result: dict[str, float]) -> bool:
    return self._meets_target(eval_result, 'validation', self.validation_target_value)

  def has_reached_test_target(self, eval_result: dict[str, float]) -> bool:
    return self._meets_target(eval_result, 'test', self.test_target_value)

  @property
  @abc.abstractmethod
  def max_allowed_runtime_sec(self) -> float:
    """Submission-time budget of one trial, in seconds."""

  @property
  @abc.abstractmethod
  def eval_period_time_sec(self) -> float:
    """Submission time between two untimed evaluations."""

  @property
  @abc.abstractmethod
  def step_hint(self) -> int:
    """Approximate number of steps the baseline takes within the budget."""

  # --- data ------------------------------------------------------------------------

  @property
  @abc.abstractmethod
  def loss_type(self) -> LossType:
    """The type of loss function."""

  @property
  @abc.abstractmethod
  def num_train_examples(self) -> int:
    """Size of the training split."""

  @property
  @abc.abstractmethod
  def num_eval_train_examples(self) -> int:
    """Number of training examples the `train/` metrics are computed on."""

  @property
  @abc.abstractmethod
  def num_validation_examples(self) -> int:
    """Size of the validation split."""

  @property
  @abc.abstractmethod
  def num_test_examples(self) -> int | None:
    """Size of the test split (None when the workload has no test split)."""

  @property
  @abc.abstractmethod
  def eval_batch_size(self) -> int:
    """Default global batch size for evaluation."""

  @property
  def default_batch_size(self) -> int | None:
    """Training batch size used when a submission names none for this workload.

    Lets submissions written for AlgoPerf's workload list run on this project's workloads.
    """
    return None

  @property
  def train_mean(self) -> Any:
    return 0.0

  @property
  def train_stddev(self) -> Any:
    return 1.0

  @abc.abstractmethod
  def _build_input_queue(
      self,
      data_rng: RandomState,
      split: str,
      data_dir: str,
      global_batch_size: int,
      cache: bool | None = None,
      repeat_final_dataset: bool | None = None,
      num_batches: int | None = None,
  ) -> Iterator[dict[str, Any]]:
    """Iterator of batches {'inputs', 'targets'[, 'weights']} sharded on the batch axis.

    The runner alone calls this; submissions get the train queue in `data_selection`.
    """

  def attach_metrics_logger(self, metrics_logger) -> None:
    self.metrics_logger = metrics_logger

  # --- model -----------------------------------------------------------------------

  @property
  def param_shapes(self) -> ParameterShapeTree:
    if self._param_shapes is None:
      raise ValueError('workload.init_model_fn() must be called before workload.param_shapes.')
    return self._param_shapes

  @property
  def model_params_types(self) -> ParameterTypeTree:
    if self._param_types is None:
      raise ValueError(
          'workload.init_model_fn() must be called before workload.model_params_types.')
    return self._param_types

  def set_param_shapes_and_types(self, params: ParameterContainer, types: ParameterTypeTree):
    """Record what submissions may read before seeing any parameter values."""
    self._param_shapes = jax.tree.map(lambda x: ShapeTuple(x.shape), params)
    self._param_types = types

  @abc.abstractmethod
  def is_output_params(self, param_key: ParameterKey) -> bool:
    """Whether a top-level parameter key belongs to the output layer."""

  def parameter_groups_input_to_output(self) -> list[list[ParameterKey]]:
    """The model's layers from input to output, each a list of top-level parameter keys.

    This project's extension (optional; docs/freezeout.md): layer-wise rules such as
    FreezeOut read the depth order here. Every top-level key is in exactly one group.
    Default: one group per key, in natural order (`Dense_2` before `Dense_10`), which is
    the depth order of Flax's automatic names when one module type follows another
    (`Conv_*` then `Dense_*`). JAX sorts dict keys, so Flax's definition order is lost;
    a model with other names (embeddings, blocks) or interleaved types (`Conv_0`,
    `BatchNorm_0`, …) overrides this. Needs `init_model_fn` first (reads `param_shapes`).
    """
    def natural(key: str) -> list:
      return [(0, int(part), '') if part.isdigit() else (1, 0, part)
              for part in re.split(r'(\d+)', key)]
    return [[key] for key in sorted(self.param_shapes, key=natural)]

  @abc.abstractmethod
  def init_model_fn(
      self,
      rng: RandomState,
      dropout_rate: float | None = None,
      aux_dropout_rate: float | None = None,
  ) -> ModelInitState:
    """Return (initial_params, initial_model_state); sets param_shapes/model_params_types."""

  @abc.abstractmethod
  def model_fn(
      self,
      params: ParameterContainer,
      augmented_and_preprocessed_input_batch: dict[str, Tensor],
      model_state: ModelAuxiliaryState,
      mode: ForwardPassMode,
      rng: RandomState,
      update_batch_norm: bool,
      dropout_rate: float | None = None,
  ) -> tuple[Tensor, ModelAuxiliaryState]:
    """Return (logits_batch, new_model_state)."""

  def output_activation_fn(self, logits_batch: Tensor, framework: str = 'jax') -> Tensor:
    """Turn logits into probabilities/predictions according to `loss_type`."""
    if framework not in ('jax', 'pytorch'):
      raise ValueError(f'`framework` has to be either `pytorch` or `jax`, got {framework}.')
    if framework == 'pytorch':
      raise NotImplementedError('This project implements the JAX framework only.')
    activation = {
        LossType.SOFTMAX_CROSS_ENTROPY: jax.nn.softmax,
        LossType.SIGMOID_CROSS_ENTROPY: jax.nn.sigmoid,
        LossType.CTC_LOSS: jax.nn.softmax,
        LossType.MEAN_SQUARED_ERROR: lambda z: z,
        LossType.MEAN_ABSOLUTE_ERROR: lambda z: z,
    }[self.loss_type]
    return activation(logits_batch)

  @abc.abstractmethod
  def loss_fn(
      self,
      label_batch: Tensor,
      logits_batch: Tensor,
      mask_batch: Tensor | None = None,
      label_smoothing: float = 0.0,
  ) -> dict[str, Tensor]:
    """Return {'summed', 'n_valid_examples', 'per_example'}; no regularisation."""

  # --- ensembles (this project's extension; docs/ensembles.md) ---------------------

  def combine_ensemble_outputs(self, member_outputs: Tensor) -> Tensor:
    """One output from the members' outputs (stacked on axis 0), in the form `loss_fn` and
    the eval metrics take: the average predictive distribution. A workload whose outputs
    cannot be averaged keeps this default, and the runner refuses ensembles on it."""
    raise EnsembleError(f'workload {type(self).__name__} cannot evaluate ensembles: it does '
                        'not define how to average its members\' outputs.')

  @property
  def supports_ensemble_eval(self) -> bool:
    """Whether `eval_model` accepts a `spec.Ensemble` in place of params."""
    return False

  # --- evaluation ------------------------------------------------------------------

  @abc.abstractmethod
  def _eval_model_on_split(
      self,
      split: str,
      num_examples: int,
      global_batch_size: int,
      params: ParameterContainer,
      model_state: ModelAuxiliaryState,
      rng: RandomState,
      data_dir: str,
      global_step: int = 0,
  ) -> dict[str, float]:
    """Evaluate on one split; return plain-float metrics without split prefix."""

  def eval_model(
      self,
      global_batch_size: int,
      params: ParameterContainer,
      model_state: ModelAuxiliaryState,
      rng: RandomState,
      data_dir: str,
      imagenet_v2_data_dir: str | None,
      global_step: int,
  ) -> dict[str, float]:
    """Evaluate on eval_train, validation and (if any) test: 'train/…', 'validation/…', 'test/…'."""
    sizes = {
        'eval_train': self.num_eval_train_examples,
        'validation': self.num_validation_examples,
        'test': self.num_test_examples,
    }
    results: dict[str, float] = {}
    for split in EVAL_SPLITS:
      if sizes[split] is None:
        continue
      try:
        metrics = self._eval_model_on_split(
            split, num_examples=sizes[split], global_batch_size=global_batch_size,
            params=params, model_state=model_state, rng=rng,
            data_dir=imagenet_v2_data_dir if (split == 'test' and imagenet_v2_data_dir)
            else data_dir,
            global_step=global_step)
      except NotImplementedError:
        if split == 'test':
          continue
        raise
      prefix = SPLIT_PREFIX[split]
      results.update({f'{prefix}/{k}': v for k, v in metrics.items()})
      if split != 'eval_train':
        results[f'{prefix}/num_examples'] = sizes[split]
    return results


# --- the submission functions (signatures only; submissions define them) ------------

InitOptimizerFn = Callable[
    [Workload, ParameterContainer, ModelAuxiliaryState, Hyperparameters, RandomState],
    OptimizerState]
UpdateParamsFn = Callable[..., UpdateReturn]
PrepareForEvalFn = Callable[..., UpdateReturn]
DataSelectionFn = Callable[..., dict[str, Tensor]]


def init_optimizer_state(workload: Workload, model_params: ParameterContainer,
                         model_state: ModelAuxiliaryState, hyperparameters: Hyperparameters,
                         rng: RandomState) -> OptimizerState:
  """Return the initial optimizer state."""
  raise NotImplementedError


def update_params(workload: Workload, current_param_container: ParameterContainer,
                  current_params_types: ParameterTypeTree, model_state: ModelAuxiliaryState,
                  hyperparameters: Hyperparameters, batch: dict[str, Tensor],
                  loss_type: LossType, optimizer_state: OptimizerState,
                  eval_results: list[tuple[int, float]], global_step: int,
                  rng: RandomState, train_state: dict[str, Any] | None = None) -> UpdateReturn:
  """One training step: return (new_optimizer_state, new_params, new_model_state)."""
  raise NotImplementedError


def prepare_for_eval(workload: Workload, current_param_container: ParameterContainer,
                     current_params_types: ParameterTypeTree,
                     model_state: ModelAuxiliaryState, hyperparameters: Hyperparameters,
                     loss_type: LossType, optimizer_state: OptimizerState,
                     eval_results: list[tuple[int, float]], global_step: int,
                     rng: RandomState) -> UpdateReturn:
  """Return (optimizer_state, params_to_evaluate, model_state) before an eval."""
  raise NotImplementedError


def data_selection(workload: Workload, input_queue: Iterator[dict[str, Any]],
                   optimizer_state: OptimizerState, current_param_container: ParameterContainer,
                   model_state: ModelAuxiliaryState, hyperparameters: Hyperparameters,
                   global_step: int, rng: RandomState) -> dict[str, Tensor]:
  """Select the next training batch from the repeating, pre-shuffled input queue."""
  raise NotImplementedError


def get_batch_size(workload_name: str) -> int:
  """Return the global training batch size for a workload."""
  raise NotImplementedError
