"""Instruments on a trial: the runner's observer of tracked steps, never billed, never felt.

On a step the schedule tracks, the runner stops the submission clock and hands this observer
the state before the update (copied here, since a submission may donate its buffers to the
update) and, after the update has been computed, the state after it; the observer runs the
instruments on the batch the submission trained on and appends the row. Nothing here touches
the training state, the training keys or the clock, so the same seed trains bit-identically
with and without instruments (tests/instruments/test_instrumented_runs.py).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp

from algoperf import instruments as instruments_lib
from algoperf.instruments.log import INSTRUMENTS_META, InstrumentLog
from algoperf.observers import TrialContext, TrialObserver

logger = logging.getLogger(__name__)

# Instrument randomness (Hutchinson, Lanczos) comes from its own key, never a training key.
_INSTRUMENT_KEY_TAG = 0x1A57
# The dashboard is redrawn at each eval, but drawing takes a second or more: during a run
# at most this share of the wall time goes to it (after a draw of d seconds, evals in the
# next d·(1/share − 1) seconds are skipped); the final draw is always made.
DASHBOARD_MAX_SHARE = 0.1


@dataclasses.dataclass(frozen=True)
class InstrumentSettings:
  """What the flags asked for; called with a trial's context, it is that trial's observer
  (`TrialConfig.observers` takes it: picklable, so a trial process builds it)."""
  quantities: str = ''                  # --instruments: a set (economy, ...) or a comma list
  schedule: str = 'linear:1'            # --instrument_schedule: linear:N, logarithmic:...
  max_chunk_bytes: int = 256 * 2**20    # memory bound of the per-example gradients
  dashboard: bool = True                # redraw <trial>/instrument_dashboard.* as it runs

  @property
  def enabled(self) -> bool:
    return bool(self.quantities)

  def check(self, max_global_steps: int | None = None) -> None:
    """One clear error for a bad flag, before any trial starts."""
    instruments_lib.resolve(self.quantities, flag='--instruments')
    schedule = instruments_lib.parse_schedule(self.schedule, flag='--instrument_schedule')
    schedule.check(max_global_steps)

  def __call__(self, context: TrialContext) -> InstrumentObserver:
    return InstrumentObserver(self, context)


@dataclasses.dataclass
class _Before:
  """The state a tracked step started from, copied off the clock (workload form)."""
  params: Any
  model_state: Any
  batch: Any


class InstrumentObserver(TrialObserver):
  """One trial's instruments: decides which steps are tracked and logs what they show."""

  def __init__(self, settings: InstrumentSettings, context: TrialContext):
    if context.log_dir is None:
      raise ValueError('--instruments needs a trial folder to write its logs to')
    self._settings = settings
    self._schedule = instruments_lib.parse_schedule(settings.schedule,
                                                    flag='--instrument_schedule')
    self._context = context
    self._log = InstrumentLog(context.log_dir)
    self._key = jax.random.fold_in(jax.random.PRNGKey(context.seed), _INSTRUMENT_KEY_TAG)
    self._computer = instruments_lib.Instruments(
        instruments_lib.resolve(settings.quantities, flag='--instruments'),
        instruments_lib.per_example_loss_fn(context.workload, context.initial_model_state),
        max_chunk_bytes=settings.max_chunk_bytes, flag='--instruments',
        memory_flag='--instrument_max_chunk_mb')
    self._meta_written = False
    self._next_draw = -math.inf     # when the dashboard may be redrawn next
    self._dashboard_wait = 10.0     # the page's refresh period until a draw is timed
    if context.resumed_at is not None:
      self._log.drop_after(context.resumed_at)  # Steps this attempt redoes.

  def wants(self, step: int) -> bool:
    return self._schedule(step)

  def before_update(self, step: int, params, model_state, batch) -> _Before:
    """Copy what the update may consume; returns once the copies exist."""
    params, model_state = self._context.to_workload_form(params, model_state)
    batch = self._context.batch_to_workload_form(batch)
    before = _Before(_copy(params), _copy(model_state), _copy(batch))
    return jax.block_until_ready(before)

  def after_update(self, step: int, before: _Before, params, model_state) -> None:
    """Run the instruments on the step that started from `before`; append its row."""
    after, _ = self._context.to_workload_form(params, model_state)
    if not self._meta_written:  # Once per attempt: bad input fails here, before any row.
      self._computer.check(before.params, before.batch, before.model_state)
      self._log.write_meta({**self._computer.describe(), 'schedule': self._schedule.spec})
      self._meta_written = True
    observation = self._computer.observe(
        before.params, after, self._context.initial_params, before.batch,
        jax.random.fold_in(self._key, step), model_state=before.model_state)
    self._log.append(step, self._context.preemption_count, dict(observation.scalars),
                     observation.arrays)

  def after_eval(self, step: int, row, final: bool) -> None:
    """Redraw the trial's dashboard, if asked and anything is logged: at each eval, within
    `DASHBOARD_MAX_SHARE` of the wall time, and when the trial ends."""
    log_dir = self._context.log_dir
    logged = self._meta_written or os.path.isfile(os.path.join(log_dir, INSTRUMENTS_META))
    if not self._settings.dashboard or not logged or (
        not final and time.monotonic() < self._next_draw):
      return
    from algoperf.instruments import dashboard
    started = time.monotonic()
    refresh = None if final else max(5, round(self._dashboard_wait))
    dashboard.write([log_dir], log_dir, refresh_seconds=refresh)
    took = time.monotonic() - started
    self._dashboard_wait = took * (1.0 / DASHBOARD_MAX_SHARE - 1.0)
    self._next_draw = time.monotonic() + self._dashboard_wait


def _copy(tree):
  return jax.tree.map(lambda x: jnp.array(x, copy=True) if isinstance(x, jax.Array) else x,
                      tree)
