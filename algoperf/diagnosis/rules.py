"""The rules behind every verdict, as pure functions of logged curves (docs/diagnose.md).

A curve is what a trial's probe logged: steps and the training loss at those steps. The
rules are written so a reader can apply them by hand to a plot:

* **too short**: fewer than `min_points` finite points and nothing non-finite: not judged.
* **diverged**: a non-finite loss anywhere, or a spike (below) that never comes back and
  leaves the run no lower than it started (the final loss, the median of the last
  `tail_fraction` of the curve, is >= the first loss).
* **spike**: the smoothed loss (running median of `window` points, so one noisy batch is
  not a spike) rises above the best smoothed loss so far by more than `spike_fraction` of
  the progress made so far, and by more than `min_rise` of that best loss.
* **unstable early / mid-training**: a spike (or the divergence's onset) in the first
  `early_fraction` of the trial's steps / later.
* **stable**: none of the above.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

STABLE = 'stable'
UNSTABLE_EARLY = 'unstable early'
UNSTABLE_MID = 'unstable mid-training'
DIVERGED = 'diverged'
TOO_SHORT = 'too short to judge'
LABELS = (STABLE, UNSTABLE_EARLY, UNSTABLE_MID, DIVERGED, TOO_SHORT)


@dataclasses.dataclass(frozen=True)
class Rule:
  """The thresholds of the classifier; the defaults are the documented ones."""
  window: int = 5              # running-median window (logged points)
  spike_fraction: float = 0.5  # rise above the best so far, as a fraction of progress made
  min_rise: float = 0.1        # ... and at least this fraction of the best loss itself
  early_fraction: float = 0.2  # a spike in this first fraction of the steps is "early"
  tail_fraction: float = 0.1   # the final loss: median of this last fraction of points
  min_points: int = 10         # fewer finite points: too short to judge


DEFAULT_RULE = Rule()


@dataclasses.dataclass(frozen=True)
class Spike:
  step: int          # the first logged step above the threshold
  loss: float        # the smoothed loss there
  best_before: float  # the best smoothed loss before it
  recovered_step: int | None  # first later step back below the threshold (None: never)


@dataclasses.dataclass(frozen=True)
class Verdict:
  label: str
  reason: str
  first_bad_step: int | None = None
  spikes: tuple[Spike, ...] = ()
  initial_loss: float | None = None
  final_loss: float | None = None

  @property
  def stable(self) -> bool:
    return self.label == STABLE

  @property
  def unstable(self) -> bool:
    return self.label in (UNSTABLE_EARLY, UNSTABLE_MID, DIVERGED)


def running_median(values: Sequence[float], window: int) -> np.ndarray:
  """Trailing median over up to `window` points (the first points use what exists)."""
  values = np.asarray(values, dtype=float)
  return np.array([np.median(values[max(0, i - window + 1):i + 1])
                   for i in range(len(values))])


def find_spikes(steps: Sequence[int], losses: Sequence[float], rule: Rule = DEFAULT_RULE
                ) -> tuple[Spike, ...]:
  """Every rise of the smoothed curve past the spike threshold, with when it came back."""
  steps = np.asarray(steps)
  smooth = running_median(losses, rule.window)
  if len(smooth) < 2:
    return ()
  initial = float(smooth[0])
  spikes = []
  best = initial
  open_spike = None  # (index, threshold) of a spike not yet recovered
  for i in range(1, len(smooth)):
    value = float(smooth[i])
    if open_spike is not None:
      start, threshold, best_before = open_spike
      if value <= threshold:
        spikes.append(Spike(int(steps[start]), float(smooth[start]), best_before,
                            int(steps[i])))
        open_spike = None
      continue
    threshold = best + max(rule.spike_fraction * (initial - best), rule.min_rise * abs(best))
    if value > threshold:
      open_spike = (i, threshold, best)
    else:
      best = min(best, value)
  if open_spike is not None:
    start, _, best_before = open_spike
    spikes.append(Spike(int(steps[start]), float(smooth[start]), best_before, None))
  return tuple(spikes)


def tail_median(losses: Sequence[float], rule: Rule = DEFAULT_RULE) -> float:
  """The final loss of a curve: the median of its last `tail_fraction` of points."""
  losses = np.asarray(losses, dtype=float)
  count = max(1, math.ceil(rule.tail_fraction * len(losses)))
  return float(np.median(losses[-count:]))


def classify(steps: Sequence[int], losses: Sequence[float], total_steps: int,
             rule: Rule = DEFAULT_RULE) -> Verdict:
  """Stable, unstable early, unstable mid-training, diverged, or too short to judge."""
  steps = np.asarray(steps, dtype=int)
  losses = np.asarray(losses, dtype=float)
  early_end = rule.early_fraction * total_steps
  bad = ~np.isfinite(losses)
  if bad.any():
    step = int(steps[np.argmax(bad)])
    return Verdict(DIVERGED, f'the loss is not finite at step {step}', step,
                   initial_loss=float(losses[0]) if np.isfinite(losses[0]) else None)
  if len(losses) < rule.min_points:
    return Verdict(TOO_SHORT, f'{len(losses)} logged point(s), fewer than the '
                   f'{rule.min_points} the rules need')
  initial, final = float(losses[0]), tail_median(losses, rule)
  spikes = find_spikes(steps, losses, rule)
  if final >= initial and spikes and spikes[-1].recovered_step is None:
    return Verdict(DIVERGED, f'the loss rose from step {spikes[-1].step} and ended at '
                   f'{final:.4g}, no lower than the initial {initial:.4g}', spikes[-1].step,
                   spikes, initial, final)
  if not spikes:
    return Verdict(STABLE, 'no spike', None, (), initial, final)
  first = spikes[0]
  label = UNSTABLE_EARLY if first.step <= early_end else UNSTABLE_MID
  back = (f'back by step {first.recovered_step}' if first.recovered_step is not None
          else 'not recovered by the end')
  return Verdict(label, f'spike at step {first.step} (loss {first.loss:.4g} after '
                 f'{first.best_before:.4g}), {back}', first.step, spikes, initial, final)


def best_rate(rates: Sequence[float], verdicts: Sequence[Verdict]) -> int | None:
  """Index of lr*: the lowest final loss among judged, non-diverged rates (ties: lower
  rate); None when no rate qualifies."""
  candidates = [(v.final_loss, rate, i) for i, (rate, v) in enumerate(zip(rates, verdicts, strict=True))
                if v.label not in (DIVERGED, TOO_SHORT) and v.final_loss is not None]
  return min(candidates)[2] if candidates else None


def sparse_view(steps: Sequence[int], every: int) -> np.ndarray:
  """Which logged points a sparse eval schedule sees: the first, every `every`-th step,
  and the last (boolean mask over `steps`)."""
  steps = np.asarray(steps)
  mask = steps % every == 0
  if len(steps):
    mask[0] = mask[-1] = True
  return mask


def clip_statistics(full_norms: Sequence[float], batch_norms: Sequence[float] | None,
                    percentile: float = 90.0) -> dict[str, float | None]:
  """The recommended threshold (the `percentile` of the full-gradient norms) and the
  fraction of logged steps it would clip, by the full norm and by the mini-batch norm
  (the one clipping acts on)."""
  full = np.asarray(full_norms, dtype=float)
  full = full[np.isfinite(full)]
  if not len(full):
    raise ValueError('no finite gradient norm was logged')
  threshold = float(np.percentile(full, percentile))
  batch_fraction = None
  if batch_norms is not None:
    batch = np.asarray(batch_norms, dtype=float)
    batch = batch[np.isfinite(batch)]
    batch_fraction = float(np.mean(batch > threshold)) if len(batch) else None
  return {'threshold': threshold, 'percentile': percentile,
          'clipped_fraction_full': float(np.mean(full > threshold)),
          'clipped_fraction_batch': batch_fraction, 'num_steps': int(len(full))}
