"""Reads a trial's hyperparameters into one attribute-access object with defaults filled in.

The runner hands a namedtuple (external ruleset) or None (self-tuning ruleset); optional
knobs such as label smoothing or gradient clipping may be absent from a search space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Knobs the shared train step reads; a search space that omits them gets these values.
TRAIN_STEP_DEFAULTS: Mapping[str, Any] = {
    'label_smoothing': 0.0,
    'grad_clip': None,
    'dropout_rate': None,
    # Linear warmup length in steps; None: `warmup_factor` of the step hint (schedules.py).
    'warmup_steps': None,
}


class HParams:
  """Read-only hyperparameters; a missing name raises an error that lists the present ones."""

  __slots__ = ('_values',)

  def __init__(self, values: Mapping[str, Any]):
    object.__setattr__(self, '_values', dict(values))

  def __getattr__(self, name: str) -> Any:
    try:
      return self._values[name]
    except KeyError:
      raise AttributeError(
          f'hyperparameter {name!r} is missing; this trial has {sorted(self._values)}') from None

  def __setattr__(self, name, value):
    raise AttributeError('hyperparameters are read-only')

  def as_dict(self) -> dict[str, Any]:
    return dict(self._values)

  def __repr__(self):
    return f'HParams({self._values})'


def _as_mapping(hyperparameters: Any) -> Mapping[str, Any]:
  if isinstance(hyperparameters, Mapping):
    return hyperparameters
  if hasattr(hyperparameters, '_asdict'):
    return hyperparameters._asdict()
  return vars(hyperparameters)


def resolve(hyperparameters: Any, defaults: Mapping[str, Any] | None = None,
            self_tuning: Mapping[str, Any] | None = None) -> HParams:
  """Merge TRAIN_STEP_DEFAULTS < defaults < given (or `self_tuning` when given is None)."""
  if hyperparameters is None:
    if self_tuning is None:
      raise ValueError(
          'This submission needs hyperparameters (external tuning ruleset) but got None; '
          'under the self-tuning ruleset use its *_self_tuning variant.')
    given = self_tuning
  else:
    given = _as_mapping(hyperparameters)
  return HParams({**TRAIN_STEP_DEFAULTS, **(defaults or {}), **given})
