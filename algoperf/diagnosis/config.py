"""What every diagnosis is given: the submission, its workload, the point it diagnoses.

The point is one hyperparameter setting of the submission's search space (the one trial
`--hparam_index` of study 0 would run, seeded like `submission_runner.py`), with
`--set NAME=VALUE` overrides; a diagnosis varies one or two of its values (the learning
rate, the warmup length) and keeps the rest fixed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from algoperf import tuning


class DiagnosisError(ValueError):
  """A diagnosis cannot go on as asked; the message says why and what to do. Runs already
  written are kept."""


@dataclasses.dataclass(frozen=True)
class DiagnosisConfig:
  submission_path: str
  workload: str
  search_space: str
  output_dir: str               # each diagnosis writes <output_dir>/<diagnosis>/
  point: Mapping[str, Any]      # the hyperparameters every trial starts from
  lr_name: str = 'learning_rate'
  rng_seed: int = 0
  data_dir: str = ''
  isolate_trials: bool = True
  show_progress: bool | None = None
  legacy_pmap: str = 'auto'

  def folder(self, diagnosis: str) -> str:
    return os.path.join(self.output_dir, diagnosis)

  @property
  def learning_rate(self) -> float:
    return float(self.point[self.lr_name])


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
  """`NAME=VALUE` strings (VALUE read as JSON when it parses: numbers, null, true) to a
  dict; a malformed item is an error naming `--set`."""
  values = {}
  for item in items:
    name, sep, text = item.partition('=')
    if not sep or not name.strip():
      raise DiagnosisError(f'--set={item!r}: expected NAME=VALUE, e.g. --set=warmup_factor=0')
    try:
      values[name.strip()] = json.loads(text)
    except json.JSONDecodeError:
      values[name.strip()] = text
  return values


def base_point(search_space: str, hparam_index: int, rng_seed: int,
               overrides: Mapping[str, Any], lr_name: str) -> dict[str, Any]:
  """The point to diagnose; an error when it has no `lr_name` (naming what it has)."""
  try:
    space = tuning.load_search_space(search_space)
  except (OSError, ValueError) as e:
    raise DiagnosisError(f'--tuning_search_space: {e}') from e
  if hparam_index < 0:
    raise DiagnosisError(f'--hparam_index must be >= 0, got {hparam_index}')
  try:
    points = tuning.study_points(space, hparam_index + 1, 0,
                                 tuning.default_pool_seed(rng_seed))
  except tuning.SearchSpaceError as e:
    raise DiagnosisError(f'--hparam_index={hparam_index}: {e}') from e
  point = {**tuning.hparams_to_dict(points[hparam_index]), **overrides}
  if lr_name not in point:
    raise DiagnosisError(
        f'{search_space} has no hyperparameter {lr_name!r} to sweep (it has: '
        f'{", ".join(space.names)}). Name the submission\'s learning-rate hyperparameter '
        'with --lr_name=NAME.')
  value = point[lr_name]
  if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
    raise DiagnosisError(f'{lr_name}={value!r} in the point to diagnose is not a positive '
                         f'number; --lr_name must name a learning rate')
  return point


def learning_rate_range(search_space: str, lr_name: str) -> tuple[float, float]:
  """The sweep's default range, from the search space's `lr_name` (grid.py's rule)."""
  from algoperf.diagnosis import grid
  space = tuning.load_search_space(search_space)
  if lr_name not in space.names:
    raise DiagnosisError(f'{search_space} has no {lr_name!r} to take a range from; give '
                         '--lr_min and --lr_max')
  return grid.range_from_search_space(space, lr_name)
