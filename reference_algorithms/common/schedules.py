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
  return warmup_cosine_steps(peak_value, warmup_steps(warmup_factor, step_hint), step_hint)


def warmup_length(hp, step_hint: int) -> int:
  """A trial's warmup in steps: `warmup_steps` when the point sets it (the knob the warmup
  diagnosis turns, docs/diagnose.md), else `warmup_factor` of the step hint as in AlgoPerf.
  Points without `warmup_steps` (every stored baseline) keep their schedule exactly."""
  given = getattr(hp, 'warmup_steps', None)  # build_optimizer may get a raw namedtuple
  if given is None:
    return warmup_steps(hp.warmup_factor, step_hint)
  if isinstance(given, bool) or int(given) != given or given < 0:
    raise ValueError(f'hyperparameter warmup_steps must be an int >= 0, got {given!r}')
  return int(given)


def warmup_cosine_steps(peak_value: float, warmup: int, step_hint: int,
                        end_value: float = 0.0) -> optax.Schedule:
  """Linear warmup from 0 to `peak_value` over `warmup` steps, then cosine decay to
  `end_value` (0: NAdamW's) at `step_hint` (at least one step of decay, so a warmup as long
  as the hint is well defined). SWA and FGE end their warm start at their cycles' top rate."""
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=peak_value, warmup_steps=warmup,
      decay_steps=max(step_hint, warmup + 1), end_value=end_value)


def from_hparams(hp, step_hint: int) -> optax.Schedule:
  """The warmup+cosine schedule of a trial (learning_rate; warmup_steps or warmup_factor)."""
  return warmup_cosine_steps(hp.learning_rate, warmup_length(hp, step_hint), step_hint)
