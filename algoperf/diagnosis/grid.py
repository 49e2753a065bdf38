"""The grids a diagnosis runs: log-spaced learning rates and warmup lengths.

Errors are `DiagnosisError`s whose message names the flag.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from algoperf import tuning
from algoperf.diagnosis.config import DiagnosisError

# The Tuning Playbook searches warmup over {10, 10^3, 10^4, 10^5} steps, never past 10% of
# the run; here the same four log-spaced lengths span 10 steps to that cap.
WARMUP_CAP_FRACTION = 0.1
PLAYBOOK_SHORTEST_WARMUP = 10


def round_sig(value: float, digits: int = 3) -> float:
  """`value` to `digits` significant digits, so grid points read well in folders and plots."""
  return float(f'{value:.{digits}g}')


def check_range(low: float, high: float, flags: str = '--lr_min/--lr_max') -> None:
  if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high <= 0:
    raise DiagnosisError(f'{flags}: the learning-rate range must be positive, got '
                     f'[{low:g}, {high:g}]')
  if low >= high:
    raise DiagnosisError(f'{flags}: the minimum must be below the maximum, got '
                     f'[{low:g}, {high:g}]')


def log_grid(low: float, high: float, num: int, flag: str = '--num_rates') -> list[float]:
  """`num` log-spaced rates from `low` to `high` (both included), 3 significant digits."""
  check_range(low, high)
  if num < 2:
    raise DiagnosisError(f'{flag} must be at least 2, got {num}')
  rates = [round_sig(r) for r in np.geomspace(low, high, num)]
  if len(set(rates)) < num:
    raise DiagnosisError(f'{flag}={num} rates between {low:g} and {high:g} are closer than 3 '
                     'significant digits tell apart; use fewer rates or a wider range')
  return rates


def grid_ratio(rates: Sequence[float]) -> float:
  """The factor between neighbouring rates of a log grid."""
  return (rates[-1] / rates[0]) ** (1 / (len(rates) - 1))


def range_from_search_space(space: tuning.SearchSpace, name: str) -> tuple[float, float]:
  """The learning-rate range a search space implies: a range's bounds, or the smallest and
  largest of its feasible or fixed points (one value v alone gives [v/10, 10v])."""
  index = space.names.index(name)
  if isinstance(space, tuning.FixedSpace):
    values = [p[index] for p in space.points]
  else:
    dim = space.dims[index]
    values = list(dim.points) if isinstance(dim, tuning.Choice) else [dim.low, dim.high]
  values = [float(v) for v in values]
  low, high = min(values), max(values)
  if low == high:
    return low / 10, high * 10
  return low, high


def warmup_grid(steps: int, num: int = 4) -> list[int]:
  """`num` log-spaced warmup lengths from 10 steps (fewer if the cap is lower) to 10% of
  `steps`, deduplicated after rounding."""
  cap = warmup_cap(steps)
  low = min(PLAYBOOK_SHORTEST_WARMUP, cap)
  return sorted({int(round(w)) for w in np.geomspace(low, cap, num)})


def warmup_cap(steps: int, flag: str = '--steps') -> int:
  cap = int(WARMUP_CAP_FRACTION * steps)
  if cap < 1:
    raise DiagnosisError(f'{flag}={steps} is too short for warmup: 10% of it is under one step')
  return cap


def check_warmup_lengths(lengths: Sequence[int], steps: int) -> list[int]:
  """Explicit lengths: positive ints, none above 10% of the trial's steps."""
  cap = warmup_cap(steps)
  bad = [w for w in lengths if w < 1 or w > cap]
  if bad:
    raise DiagnosisError(f'--warmup_lengths: {bad} outside [1, {cap}] (warmup is at most 10% '
                     f'of --steps={steps})')
  return sorted(set(lengths))
