"""What a submission receives as `workload`: a view that cannot touch the runner's accounting.

The runner evaluates, checks targets and bills time through its own workload object and
writes eval rows through its own `logs.MetricsLogger`. A submission gets neither: it gets
a `SubmissionWorkload` over a second instance of the same workload class, reserved for
it, and `SubmissionWorkload.metrics_logger` is a `SubmissionMetricsLogger` that takes
training metrics only. So a submission can no longer replace `eval_model`, move a target,
read held-out data or write an eval row or `score`.

This is a guard against misuse, not a sandbox: Python cannot hide an object from code in
the same process (the view's private slots, a closure's cells and `gc` all reach it).

How the runner wires it (all untimed set-up, in this order; one view for the whole trial,
since submissions capture it in jitted steps at `init_optimizer_state`):

    sub_instance = <a second workload object built exactly like the runner's>
    params, model_state = workload.init_model_fn(rng, dropout_rate, aux_dropout_rate)
    init_submission_model(workload, sub_instance, rng, dropout_rate, aux_dropout_rate)
    metrics_logger = logs.MetricsLogger(log_dir) if log_dir else None  # before the view
    sub_logger = None if metrics_logger is None else SubmissionMetricsLogger(metrics_logger)
    view = SubmissionWorkload(sub_instance, sub_logger)
    ... pass `view` as `workload` to every submission function, and
    ... `current_params_types=view.model_params_types`;
    ... after a resume: `sub_logger.set_preemption_count(preemption_count)`.
"""

from __future__ import annotations

import inspect
import logging
import operator
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from algoperf import logs, spec

logger = logging.getLogger(__name__)

HELD_OUT_MESSAGE = ('is not available to submissions: held-out data / evaluation belongs to '
                    'the runner')

# Public workload members that evaluate, load data or wire the runner's logging. Every
# name starting with '_' is blocked too (private state, e.g. `_splits`, `_model`), and so
# is any attribute whose value holds held-out data (see `_holds_held_out_data`).
BLOCKED_ATTRIBUTES = frozenset({
    'eval_model', 'splits', 'load_splits', 'attach_metrics_logger',
    'set_param_shapes_and_types', 'data_location',
})
HELD_OUT_SPLITS = frozenset({'validation', 'test'})

# The runner's columns: AlgoPerf's leading columns and the eval metrics' split prefixes
# ('train/' is eval_train's prefix). A submission's metric may use none of them.
RESERVED_METRIC_NAMES = frozenset(logs.RUNNER_COLUMNS)
RESERVED_METRIC_PREFIXES = (tuple(f'{p}/' for p in dict.fromkeys(spec.SPLIT_PREFIX.values()))
                            + (logs.LAST_MEMBER_PREFIX,))

# Constants a submission reads; its instance must agree with the runner's on all of them.
_SHARED_CONSTANTS = (
    'target_metric_name', 'validation_target_value', 'test_target_value',
    'max_allowed_runtime_sec', 'eval_period_time_sec', 'step_hint', 'loss_type',
    'num_train_examples', 'num_eval_train_examples', 'num_validation_examples',
    'num_test_examples', 'eval_batch_size', 'default_batch_size', 'train_mean',
    'train_stddev')


def reserved_metric_reason(name: Any) -> str | None:
  """Why a submission may not log metric `name`, or None when it may."""
  if not isinstance(name, str):
    return f'metric names must be strings, got {name!r}'
  if name in RESERVED_METRIC_NAMES:
    return f'{name!r} is a column the runner writes'
  for prefix in RESERVED_METRIC_PREFIXES:
    if name.startswith(prefix):
      return f'{name!r} starts with {prefix!r}, the prefix of the runner\'s eval metrics'
  return None


class SubmissionMetricsLogger:
  """AlgoPerf's `workload.metrics_logger` API over the runner's logger, train rows only.

  Rows go to measurements.csv with the submission's `global_step` (AlgoPerf semantics)
  and the runner's preemption count; eval rows and the runner's columns are refused.
  """

  __slots__ = ('_logger', '_preemption_count')

  def __init__(self, metrics_logger: logs.MetricsLogger, preemption_count: int = 0):
    self._logger = metrics_logger
    self._preemption_count = preemption_count

  def set_preemption_count(self, preemption_count: int) -> None:
    """For the runner (after a resume); the count is the runner's, not the submission's."""
    self._preemption_count = preemption_count

  def append_scalar_metrics(self, metrics: Mapping[str, Any], global_step: int,
                            preemption_count: int | None = None,
                            is_eval: bool = False) -> None:
    """Append one row of training metrics; the whole row is refused if any part is wrong.

    `preemption_count` is accepted for AlgoPerf compatibility and ignored.
    """
    del preemption_count
    if is_eval:
      raise ValueError('metrics_logger.append_scalar_metrics(is_eval=True) is not available '
                       'to submissions: eval rows belong to the runner.')
    if not isinstance(metrics, Mapping):
      raise ValueError(f'metrics must be a mapping of name to scalar, got '
                       f'{type(metrics).__name__}.')
    for name, value in metrics.items():
      reason = reserved_metric_reason(name)
      if reason is None and np.ndim(value) != 0:
        reason = f'{name!r} is not a scalar (shape {np.shape(value)})'
      if reason is not None:
        raise ValueError(f'metrics_logger.append_scalar_metrics: {reason}; reserved: '
                         f'{sorted(RESERVED_METRIC_NAMES)} and names starting with '
                         f'{list(RESERVED_METRIC_PREFIXES)}.')
    try:
      self._logger.append_scalar_metrics(dict(metrics), _step(global_step),
                                         self._preemption_count, is_eval=False)
    except OSError as e:  # The machine's fault (disk full), not the submission's.
      raise logs.LogWriteError(e.errno, f'the runner could not write measurements.csv: '
                               f'{e.strerror or e}', getattr(e, 'filename', None)) from e

  def finish(self) -> None:
    """A no-op: the runner owns the underlying logger's lifetime."""

  def __repr__(self):
    return f'<SubmissionMetricsLogger (train metrics only) over {self._logger!r}>'


def _step(global_step: Any) -> int:
  # The CSV's step column is read back as an int on resume: a float there would break it.
  try:
    step = operator.index(global_step)
  except TypeError:
    step = None
  if step is None or isinstance(global_step, bool) or step < 0:
    raise ValueError(f'metrics_logger.append_scalar_metrics: global_step must be a '
                     f'non-negative integer, got {global_step!r}.')
  return int(step)


def _blocked(name: str) -> AttributeError:
  return AttributeError(f'workload.{name} {HELD_OUT_MESSAGE}.')


def _held_out_leaves(workload) -> list:
  """Arrays of the held-out splits the instance holds in memory (in-memory workloads)."""
  splits = getattr(workload, '_splits', None)
  if not isinstance(splits, Mapping):
    return []
  leaves = []
  for split in HELD_OUT_SPLITS & set(splits):
    data = splits[split]
    leaves.extend(data.values() if isinstance(data, Mapping) else [data])
  return leaves


def _is_data(value: Any) -> bool:
  # Arrays have a shape; param_shapes' ShapeTuple leaves and type enums do not.
  return hasattr(value, 'shape') or (isinstance(value, Mapping) and any(
      hasattr(v, 'shape') for v in value.values()))


def _holds_held_out_data(value: Any, workload) -> bool:
  """A data iterator, a dict of splits, or an array of a held-out split."""
  if isinstance(value, Iterator):
    return True
  if isinstance(value, Mapping) and any(
      _is_data(value[split]) for split in HELD_OUT_SPLITS if split in value):
    return True
  if not hasattr(value, 'shape'):
    return False
  return any(value is leaf or (isinstance(value, np.ndarray) and isinstance(leaf, np.ndarray)
                               and np.may_share_memory(value, leaf))
             for leaf in _held_out_leaves(workload))


def _without_self(method) -> Any:
  """The bound method as a plain function: same call and signature, no `__self__`."""
  func, owner = method.__func__, method.__self__

  def call(*args, **kwargs):
    return func(owner, *args, **kwargs)

  call.__name__, call.__qualname__ = method.__name__, method.__qualname__
  call.__doc__ = method.__doc__
  call.__signature__ = inspect.signature(method)  # jit's static_argnames resolve by it
  return call


@spec.Workload.register  # isinstance(view, spec.Workload), as AlgoPerf code may check.
class SubmissionWorkload:
  """A submission's `workload`: the public API of its own workload instance, minus
  evaluation and held-out data, with the train-only `metrics_logger`.

  Reads: public attributes of the instance unless blocked (`BLOCKED_ATTRIBUTES`, names
  starting with '_', values holding held-out data); blocked ones raise AttributeError.
  Bound methods come back as plain functions (no `__self__`).
  Writes (`view.x = y`) stay in the view: later reads of `view.x` see `y`, so submissions
  that cache things on the workload keep working, and neither workload instance changes.
  """

  __slots__ = ('_workload', '_metrics_logger', '_shadow', '_methods')

  def __init__(self, workload: spec.Workload,
               metrics_logger: logs.MetricsLogger | SubmissionMetricsLogger | None,
               preemption_count: int = 0):
    if isinstance(workload, SubmissionWorkload):
      raise TypeError('SubmissionWorkload wraps a workload instance, not another view.')
    if metrics_logger is not None and not isinstance(metrics_logger, SubmissionMetricsLogger):
      metrics_logger = SubmissionMetricsLogger(metrics_logger, preemption_count)
    object.__setattr__(self, '_workload', workload)
    object.__setattr__(self, '_metrics_logger', metrics_logger)
    object.__setattr__(self, '_shadow', {})
    object.__setattr__(self, '_methods', {})

  def __getattr__(self, name: str) -> Any:
    try:
      shadow = object.__getattribute__(self, '_shadow')
    except AttributeError:  # Not initialised (e.g. mid-unpickling): an empty object.
      raise AttributeError(name) from None
    if name in shadow:
      return shadow[name]
    if name == 'metrics_logger':
      return self._metrics_logger
    if name.startswith('__'):
      raise AttributeError(name)
    if name.startswith('_') or name in BLOCKED_ATTRIBUTES:
      raise _blocked(name)
    if name in self._methods:
      return self._methods[name]
    value = getattr(self._workload, name)
    if inspect.ismethod(value) and value.__self__ is self._workload:
      value = self._methods[name] = _without_self(value)
    elif _holds_held_out_data(value, self._workload):
      raise _blocked(name)
    return value

  def __setattr__(self, name: str, value: Any) -> None:
    if name not in self._shadow:
      logger.debug('The submission set workload.%s; kept in its view, no workload changed.',
                   name)
    self._shadow[name] = value

  def __delattr__(self, name: str) -> None:
    try:
      del self._shadow[name]
    except KeyError:
      raise AttributeError(f'workload.{name} was not set by the submission.') from None

  def __dir__(self):
    public = (n for n in dir(self._workload)
              if not n.startswith('_') and n not in BLOCKED_ATTRIBUTES)
    return sorted({*public, 'metrics_logger', *self._shadow})

  def __repr__(self):
    return f'<SubmissionWorkload of {type(self._workload).__name__}>'

  def __reduce_ex__(self, protocol):
    raise TypeError('The submission\'s workload view cannot be copied or pickled.')


def _same(a: Any, b: Any) -> bool:
  try:
    return bool(a == b)
  except (TypeError, ValueError):  # arrays: elementwise ==
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def init_submission_model(runner_workload: spec.Workload,
                          submission_workload: spec.Workload | SubmissionWorkload,
                          rng: spec.RandomState, dropout_rate: float | None = None,
                          aux_dropout_rate: float | None = None) -> None:
  """Run `init_model_fn` on the submission's instance with the runner's arguments.

  Call it after the runner's own `init_model_fn`, with the same arguments. Re-running init
  (rather than copying param shapes across) also sets whatever else init sets on the
  instance that `model_fn` reads (char_lm's dropout rate). The params it makes are
  dropped. Raises ValueError if the instances are the same object, or disagree on a
  constant or on the param shapes/types, e.g. when the second instance was built with
  other constructor arguments.
  """
  if isinstance(submission_workload, SubmissionWorkload):
    submission_workload = object.__getattribute__(submission_workload, '_workload')
  if submission_workload is runner_workload:
    raise ValueError('The submission needs its own workload instance, not the runner\'s.')
  differing = [name for name in _SHARED_CONSTANTS
               if not _same(getattr(runner_workload, name, None),
                            getattr(submission_workload, name, None))]
  if differing:
    raise ValueError(f'The submission\'s workload instance differs from the runner\'s in '
                     f'{differing}: build both the same way.')
  submission_workload.init_model_fn(rng, dropout_rate, aux_dropout_rate)
  if (submission_workload.param_shapes != runner_workload.param_shapes
      or submission_workload.model_params_types != runner_workload.model_params_types):
    raise ValueError('The submission\'s workload instance initialised other param shapes or '
                     'types than the runner\'s.')
