"""FreezeOut's schedule (Brock et al., 2017): when each layer group stops training, and its rate.

Groups run from input to output (`Workload.parameter_groups_input_to_output`). Group i of
L + 1 trains for the first t_i of the step hint, t_i = s(t_0 + (1 - t_0)·i/L) with s the
identity, square or cube (the paper's linear, squared and cubic scaling), so the output
group always trains to the end and earlier groups stop earlier. A group's rate is the
trial's linear warmup, then a cosine to zero at its own t_i: after warmup,
α_i(t) = ½·α_i(0)·(1 + cos(π·t / t_i)), with α_i(0) = α / t_i under the paper's "scale lr"
variant (a group that trains for less time starts higher) and α otherwise.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping, Sequence

import optax

from reference_algorithms.common import schedules

# The paper's scalings of t_i: the power applied to the linear schedule.
SCALINGS: Mapping[str, int] = {'linear': 1, 'squared': 2, 'cubic': 3}


def freeze_fractions(num_groups: int, t_0: float, scaling: str) -> list[float]:
  """t_i for each group: the fraction of the step hint after which it no longer trains.

  One group (a model that is one parameter vector) trains to the end: t_0 = 1.
  """
  if not 0.0 < t_0 <= 1.0:
    raise ValueError(f'FreezeOut needs 0 < t_0 <= 1 (the first group\'s share of the '
                     f'training), got t_0={t_0!r}.')
  if scaling not in SCALINGS:
    raise ValueError(f'FreezeOut scaling must be one of {sorted(SCALINGS)}, got {scaling!r}.')
  if num_groups < 1:
    raise ValueError('FreezeOut needs at least one layer group.')
  last = max(num_groups - 1, 1)
  power = SCALINGS[scaling]
  return [1.0 if num_groups == 1 else (t_0 + (1.0 - t_0) * i / last) ** power
          for i in range(num_groups)]


@dataclasses.dataclass(frozen=True)
class FreezeSchedule:
  """Which groups train at which step. `stops[i]`: the first step at which group i is
  frozen, ⌊t_i · step_hint⌋, non-decreasing in i, so the frozen groups are always the
  first few; once all are frozen, training is over."""

  groups: tuple[tuple[str, ...], ...]
  fractions: tuple[float, ...]
  stops: tuple[int, ...]

  @property
  def num_groups(self) -> int:
    return len(self.groups)

  def num_frozen(self, step: int) -> int:
    """How many groups (the first ones) no longer train at `step`."""
    return bisect.bisect_right(self.stops, step)

  @property
  def stages(self) -> tuple[int, ...]:
    """The numbers of frozen groups the run passes through before the end, in order."""
    return tuple(sorted({0, *(self.num_frozen(s) for s in self.stops)} - {self.num_groups}))

  def rate_multiplier(self, group: int, scale_lr: bool) -> float:
    """α_i(0) / α: 1/t_i under "scale lr", else 1."""
    return 1.0 / self.fractions[group] if scale_lr else 1.0

  def learning_rate(self, group: int, peak: float, warmup: int,
                    scale_lr: bool) -> optax.Schedule:
    """Group i's rate: linear warmup to α_i(0), then cosine to zero at its stop.

    A group that stops before its warmup ends stops at its warmup rate."""
    return schedules.warmup_cosine_steps(peak * self.rate_multiplier(group, scale_lr), warmup,
                                         self.stops[group])


def build_schedule(groups: Sequence[Sequence[str]], step_hint: int, t_0: float,
                   scaling: str) -> FreezeSchedule:
  """The schedule of `groups`; ValueError when a group would freeze before step 1 (it
  would never train: everything, when the step hint is below 1 / t_0^power)."""
  fractions = freeze_fractions(len(groups), t_0, scaling)
  stops = [int(t * step_hint) for t in fractions]
  never = [i for i, stop in enumerate(stops) if stop < 1]
  if never:
    detail = ', '.join(f'{list(groups[i])} at t={fractions[i]:.4g}' for i in never)
    raise ValueError(
        f'FreezeOut schedule freezes layer groups before step 1, so they never train: '
        f'{detail} of step_hint={step_hint} (t_0={t_0}, {scaling} scaling). Every group '
        f'needs t_i * step_hint >= 1: raise t_0 or use a lower-power scaling.')
  return FreezeSchedule(tuple(tuple(g) for g in groups), tuple(fractions), tuple(stops))


def check_groups(groups: Sequence[Sequence[str]], param_keys: Sequence[str]) -> None:
  """ValueError unless every top-level parameter key is in exactly one non-empty group."""
  listed = [key for group in groups for key in group]
  problems = []
  if any(not group for group in groups):
    problems.append('an empty group')
  repeated = sorted({key for key in listed if listed.count(key) > 1})
  if repeated:
    problems.append(f'keys in more than one group: {repeated}')
  unknown = sorted(set(listed) - set(param_keys))
  if unknown:
    problems.append(f'keys that are not parameters: {unknown}')
  missing = sorted(set(param_keys) - set(listed))
  if missing:
    problems.append(f'parameters in no group: {missing}')
  if problems:
    raise ValueError(f'workload.parameter_groups_input_to_output() = {list(map(list, groups))} '
                     f'does not partition the parameters {sorted(param_keys)}: '
                     + '; '.join(problems) + '.')
