"""The submission clock: time billed to the training algorithm.

JAX returns from a jitted call before the device has finished the work. Reading a wall clock
right after `update_params` returns would bill only the dispatch, and the queued training
work would later run inside the (untimed) evaluation. So `stop` first blocks until the state
the submission returned is computed, then reads the clock (DESIGN rule 2).
"""

from __future__ import annotations

import time

import jax


class SubmissionClock:
  """Accumulates billed seconds over start/stop intervals."""

  def __init__(self, accumulated: float = 0.0):
    self.accumulated = float(accumulated)
    self._started_at: float | None = None

  @property
  def running(self) -> bool:
    return self._started_at is not None

  def start(self) -> None:
    self._started_at = time.perf_counter()

  def stop(self, computed_state=None) -> float:
    """Block until `computed_state` is ready, then bill the interval; return the total."""
    if computed_state is not None:
      jax.block_until_ready(computed_state)
    now = time.perf_counter()
    self.accumulated += now - self._started_at
    self._started_at = None
    return self.accumulated

  def lap(self, computed_state=None) -> float:
    """`stop` and `start` in one: the total billed so far, with the clock still running."""
    if computed_state is not None:
      jax.block_until_ready(computed_state)
    now = time.perf_counter()
    self.accumulated += now - self._started_at
    self._started_at = now
    return self.accumulated


class Stopwatch:
  """Untimed bookkeeping (eval, logging): `with stopwatch:` adds the block's duration."""

  def __init__(self, accumulated: float = 0.0):
    self.accumulated = float(accumulated)
    self._started_at = 0.0

  def __enter__(self):
    self._started_at = time.perf_counter()
    return self

  def __exit__(self, *exc):
    self.accumulated += time.perf_counter() - self._started_at
    return False
