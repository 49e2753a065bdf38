"""A one-line live display of a trial, shown only when stderr is a terminal; duration text."""

from __future__ import annotations

import sys
import time


def format_duration(seconds: float) -> str:
  """Whole seconds as `12s` or `28m11s`, for progress lines and summary tables."""
  minutes, secs = divmod(int(round(seconds)), 60)
  return f'{minutes}m{secs:02d}s' if minutes else f'{secs}s'


class TrialProgress:
  """Step, steps/s, submission time vs budget and last validation metric vs target; once
  the validation target is reached, that the trial goes on for the test target (else a
  run that passed its target seems not to stop)."""

  _REFRESH_SEC = 0.5

  def __init__(self, name: str, budget_sec: float, metric: str, target: float,
               enabled: bool | None = None, stream=None, test_target: float | None = None):
    self._stream = stream or sys.stderr
    self._enabled = self._stream.isatty() if enabled is None else enabled
    self._name, self._budget, self._metric, self._target = name, budget_sec, metric, target
    self._last_draw = 0.0
    self._last_value = None
    self._test_target = test_target
    self._test_value: float | None = None
    self._waiting_for_test = False
    self._rate_start: tuple[int, float] | None = None
    self._line = ''

  def step(self, global_step: int, submission_time: float) -> None:
    if not self._enabled:
      return
    now = time.perf_counter()
    if self._rate_start is None:
      self._rate_start = (global_step, submission_time)
    if now - self._last_draw < self._REFRESH_SEC:
      return
    self._last_draw = now
    first_step, first_time = self._rate_start
    elapsed = submission_time - first_time
    rate = (global_step - first_step) / elapsed if elapsed > 0 else 0.0
    self._line = (f'{self._name}: step {global_step} | {rate:.1f} steps/s | '
                  f'{submission_time:.1f}/{self._budget:.0f} s | {self.target_text()}')
    self._stream.write('\r' + self._line + '\x1b[K')
    self._stream.flush()

  def target_text(self) -> str:
    """The metric part of the line: validation vs target, or the test target awaited."""
    value = '—' if self._last_value is None else f'{self._last_value:.4g}'
    if not self._waiting_for_test:
      return f'validation/{self._metric} {value} (target {self._target:.4g})'
    test = '' if self._test_value is None else f'test/{self._metric} {self._test_value:.4g}'
    target = '' if self._test_target is None else f'target {self._test_target:.4g}'
    detail = ', '.join(t for t in (test, target) if t)
    return (f'validation target reached ({value}); waiting for the test target'
            + (f' ({detail})' if detail else ''))

  def evaluated(self, validation_value: float | None, validation_reached: bool = False,
                test_reached: bool = False, test_value: float | None = None) -> None:
    self._last_value = validation_value
    self._test_value = test_value
    self._waiting_for_test = validation_reached and not test_reached
    self._last_draw = 0.0

  def close(self) -> None:
    if self._enabled and self._line:
      self._stream.write('\n')
      self._stream.flush()
