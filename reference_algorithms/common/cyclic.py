"""Cyclic learning rates, and the steps at which SWA, FGE and snapshot ensembles harvest.

One `Cycles` gives both the rate's period and the step inside each cycle where the
algorithm takes its point (the rate's low point), so the schedule and the harvest times
cannot drift apart. Steps count optimizer updates from 0: update `i` uses `schedule(i)`,
and a harvest "at i" takes the params that update produced. Beyond the step hint the
cycles go on, so a run longer than the hint keeps harvesting.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import optax

# A cycle needs a high and a low step: shorter cycles are no cycles.
MIN_CYCLE_STEPS = 2


@dataclasses.dataclass(frozen=True)
class Cycles:
  """Cycles of `length` steps from step `start` on; each harvests at `start + k·length +
  harvest_offset`."""
  start: int
  length: int
  harvest_offset: int

  def __post_init__(self):
    if self.start < 0 or self.length < 1 or not 0 <= self.harvest_offset < self.length:
      raise ValueError(f'ill-formed cycles: {self}')

  def is_harvest(self, step):
    """Whether update `step` (a traced or concrete integer) ends at a harvest point."""
    since_start = step - self.start
    return (since_start >= 0) & (since_start % self.length == self.harvest_offset)

  def harvests_before(self, end: int) -> int:
    """How many harvest steps lie in [0, end)."""
    first = self.start + self.harvest_offset
    return 0 if end <= first else (end - 1 - first) // self.length + 1


def periodic(one_cycle: optax.Schedule, length: int) -> optax.Schedule:
  """`one_cycle` (defined on [0, length)) repeated forever."""
  return lambda step: one_cycle(jnp.asarray(step) % length)


def after_warm_start(warm: optax.Schedule, cycles: Cycles,
                     one_cycle: optax.Schedule) -> optax.Schedule:
  """`warm` until `cycles.start`, then `one_cycle` repeated every `cycles.length` steps."""
  return optax.join_schedules([warm, periodic(one_cycle, cycles.length)], [cycles.start])


def triangle(high: float, low: float, length: int) -> optax.Schedule:
  """FGE's cycle (Garipov et al. 2018): linear high → low over the first half, then back
  up; the low point is at `length // 2`."""
  half = length // 2
  return optax.join_schedules(
      [optax.linear_schedule(high, low, half), optax.linear_schedule(low, high, length - half)],
      [half])


def sawtooth(high: float, low: float, length: int) -> optax.Schedule:
  """SWA's cyclic rate (Izmailov et al. 2018): linear from `high` at a cycle's first step to
  `low` at its last, where the average takes the point. high == low: a constant rate."""
  if length == 1 or high == low:
    return optax.constant_schedule(low)
  return optax.linear_schedule(high, low, length - 1)


def cosine_restarts(peak: float, length: int, warmup: int) -> optax.Schedule:
  """Snapshot ensembles' rate (Huang et al. 2017): cosine from `peak` to 0 in every cycle of
  `length` steps, as `optax.sgdr_schedule` with equal cycles; a linear warmup from 0 opens
  the first cycle, so `warmup_steps` means what it means for every reference algorithm."""
  first = optax.warmup_cosine_decay_schedule(0.0, peak, warmup, length, end_value=0.0)
  later = periodic(optax.cosine_decay_schedule(peak, length), length)
  return optax.join_schedules([first, later], [length])


def ensemble_size(value) -> int:
  """The hyperparameter `ensemble_size` as a positive int, or a clear error."""
  if isinstance(value, bool) or int(value) != value or value < 1:
    raise ValueError(f'hyperparameter ensemble_size must be an int >= 1, got {value!r}')
  return int(value)


def fraction_of(step_hint: int, fraction: float, name: str, minimum: int) -> int:
  """`fraction` (in (0, 1]) of the step hint in whole steps, at least `minimum`."""
  if not 0 < fraction <= 1:
    raise ValueError(f'hyperparameter {name} must be in (0, 1], got {fraction!r}')
  return max(minimum, round(fraction * step_hint))
