"""When the instruments observe a step: Cockpit's `linear` and `logarithmic` schedules.

A schedule maps the runner's `global_step` (0 for the first update) to whether that step
is tracked. Written as text for a flag:

    linear:N            steps {n·N | n ≥ 0}                 (Cockpit: linear(N))
    linear:N:OFFSET     steps {OFFSET + n·N | n ≥ 0}         (Cockpit: linear(N, OFFSET))
    logarithmic:START:END[:STEPS[:BASE]]
                        int(BASE**e) for STEPS exponents e evenly spaced in [START, END],
                        and step 0           (Cockpit: logarithmic(START, END, STEPS, BASE))

Definitions follow `cockpit/utils/schedules.py` (f-dangel/cockpit): `linear` tracks
`global_step - offset ≥ 0 and (global_step - offset) % interval == 0`; `logarithmic`
takes `torch.logspace(start, end, steps, base=base, dtype=int)` (so `start`/`end` are
exponents, STEPS defaults to 300, BASE to 10) plus step 0 (`init=True`). Casting to int
truncates; here `BASE**e` is computed in float64 and truncated after adding 1e-9, so an
exact power such as 10**2 is 100, never 99.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_FLAG = '--instruments_schedule'

_LOG_DEFAULT_STEPS = 300
_LOG_DEFAULT_BASE = 10.0

FORMS = ('linear:N', 'linear:N:OFFSET', 'logarithmic:START:END[:STEPS[:BASE]]')


class Schedule:
  """A set of tracked steps: `schedule(step) -> bool`; `check(max_steps)`; `spec` text."""

  spec: str
  flag: str

  def __call__(self, global_step: int) -> bool:
    raise NotImplementedError

  def steps(self, max_steps: int) -> list[int]:
    """The tracked steps in [0, max_steps)."""
    raise NotImplementedError

  def check(self, max_steps: int | None) -> None:
    """Raise ValueError (naming the flag) if no step in [0, max_steps) is tracked."""
    if max_steps is None:
      return
    if not self.steps(int(max_steps)):
      raise ValueError(
          f'{self.flag}={self.spec} tracks no step of this run (steps 0..{max_steps - 1}); '
          f'{self.describe()}. Use a smaller interval/offset, e.g. {self.flag}=linear:1.')

  def describe(self) -> str:
    raise NotImplementedError

  def __repr__(self) -> str:
    return f'{type(self).__name__}({self.spec!r})'


class Linear(Schedule):
  """Cockpit's `linear(interval, offset)`: steps {offset + n·interval | n ≥ 0}."""

  def __init__(self, interval: int, offset: int = 0, *, flag: str = DEFAULT_FLAG):
    self.flag = flag
    if interval < 1:
      raise ValueError(f'{flag}: linear interval must be ≥ 1, got {interval}.')
    if offset < 0:
      raise ValueError(f'{flag}: linear offset must be ≥ 0, got {offset}.')
    self.interval, self.offset = int(interval), int(offset)
    self.spec = (f'linear:{self.interval}' if not self.offset
                 else f'linear:{self.interval}:{self.offset}')

  def __call__(self, global_step: int) -> bool:
    shifted = int(global_step) - self.offset
    return shifted >= 0 and shifted % self.interval == 0

  def steps(self, max_steps: int) -> list[int]:
    return list(range(self.offset, max(max_steps, 0), self.interval))

  def describe(self) -> str:
    return f'tracks steps {{{self.offset} + n·{self.interval} | n ≥ 0}}'


class Logarithmic(Schedule):
  """Cockpit's `logarithmic(start, end, steps, base, init=True)`."""

  def __init__(self, start: float, end: float, steps: int = _LOG_DEFAULT_STEPS,
               base: float = _LOG_DEFAULT_BASE, *, flag: str = DEFAULT_FLAG):
    self.flag = flag
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
      raise ValueError(f'{flag}: logarithmic needs finite exponents START ≤ END, '
                       f'got START={start}, END={end}.')
    if steps < 1:
      raise ValueError(f'{flag}: logarithmic STEPS must be ≥ 1, got {steps}.')
    if not base > 1:
      raise ValueError(f'{flag}: logarithmic BASE must be > 1, got {base}.')
    if base ** end > 2**62:
      raise ValueError(f'{flag}: logarithmic END={end} is too large for BASE={base}.')
    self.start, self.end, self.num, self.base = float(start), float(end), int(steps), float(base)
    exponents = np.linspace(self.start, self.end, self.num)
    tracked = np.floor(np.power(self.base, exponents) + 1e-9).astype(np.int64)
    self._tracked = frozenset(int(s) for s in tracked) | {0}
    self.spec = f'logarithmic:{_fmt(self.start)}:{_fmt(self.end)}:{self.num}:{_fmt(self.base)}'

  def __call__(self, global_step: int) -> bool:
    return int(global_step) in self._tracked

  def steps(self, max_steps: int) -> list[int]:
    return sorted(s for s in self._tracked if s < max_steps)

  def describe(self) -> str:
    return (f'tracks step 0 and int({_fmt(self.base)}**e) for {self.num} exponents e '
            f'in [{_fmt(self.start)}, {_fmt(self.end)}]')


def _fmt(x: float) -> str:
  return str(int(x)) if float(x).is_integer() else repr(float(x))


def parse_schedule(text: str, *, flag: str = DEFAULT_FLAG) -> Schedule:
  """A schedule from its flag text (see the module docstring); ValueError naming `flag`."""
  if isinstance(text, Schedule):
    return text
  raw = str(text).strip()
  kind, _, rest = raw.partition(':')
  kind = kind.strip().lower()
  parts = [p.strip() for p in rest.split(':')] if rest else []
  usage = f'expected one of {", ".join(FORMS)}'
  try:
    if kind == 'linear':
      if len(parts) not in (1, 2):
        raise ValueError
      return Linear(*(_int(p) for p in parts), flag=flag)
    if kind in ('logarithmic', 'log'):
      if len(parts) not in (2, 3, 4):
        raise ValueError
      start, end = float(parts[0]), float(parts[1])
      steps = _int(parts[2]) if len(parts) > 2 else _LOG_DEFAULT_STEPS
      base = float(parts[3]) if len(parts) > 3 else _LOG_DEFAULT_BASE
      return Logarithmic(start, end, steps, base, flag=flag)
  except ValueError as e:
    if str(e).startswith(flag):
      raise
    raise ValueError(f'{flag}={raw!r}: cannot parse; {usage}.') from None
  raise ValueError(f'{flag}={raw!r}: unknown schedule {kind!r}; {usage}.')


def _int(text: str) -> int:
  value = float(text)
  if not value.is_integer():
    raise ValueError(text)
  return int(value)
