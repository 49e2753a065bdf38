"""The runner's extension point: observers that look inside a trial's steps, off the clock.

An observer is built once per trial attempt from a factory in `TrialConfig.observers` (a
picklable callable, so a trial process can build it: a frozen dataclass of settings, say)
and is then asked, at every step, whether it `wants` that step. For a wanted step the runner
stops the submission clock, hands `before_update` the state the step starts from, restarts
the clock for the submission's update, stops it again once the update is computed, and
hands `after_update` the new state. Observers see evals (`after_eval`) after the runner has
logged them. Nothing an observer does is billed, and nothing it does reaches training: it
gets the state, never the keys or the clock, and must not change what it is given (copy
before keeping: a submission may donate its buffers to the next update).

Instruments (docs/instruments.md) are the first observer; diagnostics, weight averaging and
loss-landscape probes are built the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class TrialContext:
  """What an observer may know of the trial it watches."""
  workload: Any                 # the runner's own workload instance (never the submission's)
  log_dir: str | None           # the trial folder (None: a trial that logs nothing)
  seed: int
  preemption_count: int
  resumed_at: int | None        # the step this attempt resumed from (None: a fresh start)
  initial_params: Any           # what `init_model_fn` gave, in the workload's form
  initial_model_state: Any
  # The submission's form of (params, model state) and of a batch (legacy pmap mode:
  # replicated state, per-device batch rows) to the workload's; identities otherwise.
  to_workload_form: Callable[[Any, Any], tuple[Any, Any]]
  batch_to_workload_form: Callable[[Any], Any]


class TrialObserver:
  """Looks at steps and evals; every method is called with the submission clock stopped."""

  def wants(self, step: int) -> bool:
    """Whether to observe step `step` (called every step: keep it cheap)."""
    return False

  def before_update(self, step: int, params, model_state, batch) -> Any:
    """The state step `step` starts from, and its batch; return what `after_update` needs."""
    return None

  def after_update(self, step: int, before: Any, params, model_state) -> None:
    """The state step `step` produced (computed: the runner synced on it)."""

  def after_eval(self, step: int, row: dict[str, Any], final: bool) -> None:
    """An eval row, logged; `final` when the trial has ended."""


ObserverFactory = Callable[[TrialContext], TrialObserver]
