"""The submission clock: time billed to the training algorithm.

JAX returns from a jitted call before the device has finished the work. Reading a wall clock
right after `update_params` returns would bill only the dispatch, and the queued training
work would later run inside the (untimed) evaluation. So `stop` first blocks until the state
the submission returned is computed, then reads the clock (docs/runner_rules.md rule 2).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp


class SubmissionClock:
  """Accumulates billed seconds over start/stop intervals."""

  def __init__(self, accumulated: float = 0.0,
               timer: Callable[[], float] = time.perf_counter, watch=None):
    self.accumulated = float(accumulated)
    self._timer = timer
    self._started_at: float | None = None
    # Told at every start and stop (not at laps): the trial process's watchdog feed.
    self._watch = watch

  @property
  def running(self) -> bool:
    return self._started_at is not None

  def start(self) -> None:
    if self._watch is not None:
      self._watch.run(self.accumulated, timed=True)
    self._started_at = self._timer()

  def stop(self, computed_state=None) -> float:
    """Block until `computed_state` is ready, then bill the interval; return the total."""
    if computed_state is not None:
      jax.block_until_ready(computed_state)
    now = self._timer()
    self.accumulated += now - self._started_at
    self._started_at = None
    if self._watch is not None:
      self._watch.pause(self.accumulated, timed=True)
    return self.accumulated

  def lap(self, computed_state=None) -> float:
    """`stop` and `start` in one: the total billed so far, with the clock still running."""
    if computed_state is not None:
      jax.block_until_ready(computed_state)
    now = self._timer()
    self.accumulated += now - self._started_at
    self._started_at = now
    return self.accumulated


@functools.partial(jax.jit, keep_unused=True)
def _token_of(*arrays):
  del arrays  # Never read: as inputs they only make the computation wait for them.
  return jnp.zeros((), jnp.int8)


def ready_token(state) -> jax.Array | None:
  """A scalar computed only once every array in `state` is computed.

  It reads none of them, so it costs one tiny dispatch, and unlike the arrays it outlives
  their donation to the next step. None when the arrays cannot enter one computation
  (they live on different device sets): the caller then blocks on `state` itself.
  """
  arrays = [x for x in jax.tree.leaves(state) if isinstance(x, jax.Array)]
  try:
    return _token_of(*arrays)
  except ValueError:
    return None


class StepSync:
  """Rule 2 without idling the device between steps, wherever no decision can fall due.

  Blocking on each step's state before the next one is dispatched leaves the device idle
  while the host prepares that next step (keys, `data_selection`, dispatch): a fifth of a
  0.5 ms step. So when the step times measured so far show that a step ends at least
  `margin` step times before the next deadline (budget or next eval), `defer` leaves it in
  flight; `settle`, called after the following step is dispatched, waits for it and bills
  it. Every decision is still taken by `lap`, on a computed state, and all queued work is
  billed before the clock stops for an eval. A step more than `margin` times slower than
  the one before, just before a deadline, is the only way a decision comes a step late.
  """

  def __init__(self, clock: SubmissionClock, margin: float = 2.0, enabled: bool = True):
    self._clock = clock
    self._margin = margin
    self._enabled = enabled
    self._token: jax.Array | None = None
    self._last_total: float | None = None
    self.step_sec: float | None = None  # billed seconds between the last two syncs

  def lap(self, computed_state) -> float:
    """Block on `computed_state` (and any deferred step), bill, return the total."""
    self._token = None
    return self._record(self._clock.lap(computed_state))

  def stop(self, computed_state) -> float:
    """`lap`, with the clock left stopped (for an eval)."""
    self._token = None
    return self._record(self._clock.stop(computed_state))

  def settle(self) -> float | None:
    """Wait for the deferred step, if any, and bill it; None when nothing was deferred."""
    if self._token is None:
      return None
    self._token.block_until_ready()
    self._token = None
    return self._record(self._clock.lap())

  def defer(self, state, deadline: float) -> bool:
    """Leave the step that returned `state` in flight if it surely ends before `deadline`."""
    if (not self._enabled or self.step_sec is None
        or self._clock.accumulated + self._margin * self.step_sec >= deadline):
      return False
    self._token = ready_token(state)
    if self._token is None:
      self._enabled = False
    return self._token is not None

  def _record(self, total: float) -> float:
    if self._last_total is not None:
      self.step_sec = total - self._last_total
    self._last_total = total
    return total


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
