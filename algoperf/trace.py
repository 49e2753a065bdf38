"""`--capture_jax_trace`: a jax.profiler trace of a few training steps, in the trial folder.

The window starts after the first eval (step 1's) so compilation and the first eval are not
in it, and covers `TRACE_NUM_STEPS` steps. Open `<trial>/jax_trace` with TensorBoard's
profile plugin or the `.trace.json.gz` file with Perfetto.
"""

from __future__ import annotations

import os

TRACE_FIRST_STEP = 2
TRACE_NUM_STEPS = 10
TRACE_DIR = 'jax_trace'


class StepTrace:
  """Starts the profiler before step `first` and stops it after `count` steps (or when the
  trial ends sooner); one owner for the profiler's on/off state."""

  def __init__(self, log_dir: str, first: int = TRACE_FIRST_STEP,
               count: int = TRACE_NUM_STEPS):
    self.directory = os.path.join(log_dir, TRACE_DIR)
    self._first, self._last = first, first + count - 1
    self._running = False

  def before_step(self, step: int) -> None:
    if step == self._first and not self._running:
      import jax
      os.makedirs(self.directory, exist_ok=True)
      jax.profiler.start_trace(self.directory, create_perfetto_trace=True)
      self._running = True

  def after_step(self, step: int, state) -> None:
    """`step` is the index of the step just dispatched; its outputs are `state`."""
    if self._running and step >= self._last:
      self.stop(state)

  def stop(self, state=None) -> None:
    if self._running:
      import jax
      if state is not None:
        jax.block_until_ready(state)  # The traced steps' device work belongs in the trace.
      jax.profiler.stop_trace()
      self._running = False
