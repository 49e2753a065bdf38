"""Learning-rate schedules shared by the baselines, built from Optax schedules."""

from __future__ import annotations

import optax


def warmup_steps(warmup_factor: float, step_hint: int) -> int:
  """Warmup length as AlgoPerf's baselines define it: a fraction of the step hint."""
  return int(warmup_factor * step_hint)


def warmup_cosine(peak_value: float, warmup_factor: float, step_hint: int) -> optax.Schedule:
  """Linear warmup from 0 to `peak_value`, then cosine decay to 0 at `step_hint`.

  Same curve as AlgoPerf's NAdamW baseline (join of linear and cosine schedules); the
  decay always spans at least one step so warmup_factor=1 stays well defined.
  """
  warmup = warmup_steps(warmup_factor, step_hint)
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=peak_value, warmup_steps=warmup,
      decay_steps=max(step_hint, warmup + 1), end_value=0.0)


def from_hparams(hp, step_hint: int) -> optax.Schedule:
  """The warmup+cosine schedule of a trial (needs learning_rate and warmup_factor)."""
  return warmup_cosine(hp.learning_rate, hp.warmup_factor, step_hint)
