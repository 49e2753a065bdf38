"""The classifier and verdict rules on synthetic curves (docs/diagnose.md, "The rules")."""

import math

import numpy as np
import pytest

from algoperf.diagnosis import rules

STEPS = np.arange(0, 1000, 5)  # 200 logged points of a 1000-step trial


def _decaying(noise=0.02, seed=0):
  """A healthy curve: 2.3 decaying towards 0.3, with multiplicative batch noise."""
  rng = np.random.default_rng(seed)
  clean = 0.3 + 2.0 * np.exp(-STEPS / 150)
  return clean * (1 + noise * rng.standard_normal(len(STEPS)))


def _with_bump(curve, start, stop, height):
  bumped = curve.copy()
  bumped[(STEPS >= start) & (STEPS < stop)] += height
  return bumped


def test_a_healthy_noisy_curve_is_stable():
  verdict = rules.classify(STEPS, _decaying(), 1000)
  assert verdict.label == rules.STABLE and verdict.spikes == ()
  assert verdict.final_loss == pytest.approx(0.3, rel=0.1)


def test_spike_then_recovery_early_is_unstable_early():
  verdict = rules.classify(STEPS, _with_bump(_decaying(), 100, 140, 3.0), 1000)
  assert verdict.label == rules.UNSTABLE_EARLY
  [spike] = verdict.spikes
  assert 100 <= spike.step <= 115 and 140 <= spike.recovered_step <= 160
  assert verdict.first_bad_step == spike.step


def test_spike_then_recovery_late_is_unstable_mid_training():
  verdict = rules.classify(STEPS, _with_bump(_decaying(), 600, 650, 1.0), 1000)
  assert verdict.label == rules.UNSTABLE_MID
  assert 600 <= verdict.first_bad_step <= 615


def test_a_single_noisy_batch_is_not_a_spike():
  curve = _decaying()
  curve[100] = 10.0  # one outlier batch: the running median ignores it
  assert rules.classify(STEPS, curve, 1000).label == rules.STABLE
  # ... but three in a row are a spike.
  assert rules.classify(STEPS, _with_bump(curve, 100, 115, 5.0), 1000).label == (
      rules.UNSTABLE_EARLY)


def test_slow_blow_up_is_diverged():
  curve = _decaying()
  late = STEPS >= 400
  curve[late] = curve[late] * np.exp((STEPS[late] - 400) / 80)  # grows to ~600x by the end
  verdict = rules.classify(STEPS, curve, 1000)
  assert verdict.label == rules.DIVERGED
  assert 400 < verdict.first_bad_step < 600
  assert verdict.spikes[-1].recovered_step is None


def test_a_blow_up_that_ends_below_the_start_is_unstable_not_diverged():
  curve = _decaying()
  curve[STEPS >= 700] = 1.5  # jumps up and stays, but below the initial 2.3
  verdict = rules.classify(STEPS, curve, 1000)
  assert verdict.label == rules.UNSTABLE_MID
  assert verdict.spikes[0].recovered_step is None


def test_nan_at_step_3_is_diverged_at_once():
  steps = np.arange(200)
  curve = np.linspace(2.3, 1.0, 200)
  curve[3:] = np.nan
  verdict = rules.classify(steps, curve, 200)
  assert verdict.label == rules.DIVERGED and verdict.first_bad_step == 3
  # Judged even from four points: a non-finite loss needs no more evidence.
  assert rules.classify(steps[:4], curve[:4], 200).label == rules.DIVERGED
  inf = curve.copy()
  inf[3:] = np.inf
  assert rules.classify(steps, inf, 200).first_bad_step == 3


def test_a_flat_curve_is_not_called_diverged():
  rng = np.random.default_rng(1)
  flat = 2.3 * (1 + 0.01 * rng.standard_normal(len(STEPS)))
  assert rules.classify(STEPS, flat, 1000).label == rules.STABLE


def test_too_few_points_are_not_judged():
  verdict = rules.classify(STEPS[:5], _decaying()[:5], 1000)
  assert verdict.label == rules.TOO_SHORT and '5 logged point' in verdict.reason
  assert not verdict.stable and not verdict.unstable


def test_best_rate_skips_diverged_and_unjudged_rates_and_prefers_the_lower_on_ties():
  def v(label, final):
    return rules.Verdict(label, '', final_loss=final)
  rates = [1e-3, 1e-2, 1e-1, 1.0]
  verdicts = [v(rules.STABLE, 0.5), v(rules.UNSTABLE_EARLY, 0.4), v(rules.DIVERGED, 0.1),
              v(rules.TOO_SHORT, None)]
  assert rules.best_rate(rates, verdicts) == 1
  assert rules.best_rate(rates[:2], [v(rules.STABLE, 0.5), v(rules.STABLE, 0.5)]) == 0
  assert rules.best_rate(rates[2:], verdicts[2:]) is None


def test_a_sparse_eval_schedule_misses_a_short_spike():
  steps = np.arange(500)
  curve = 0.5 + 2.0 * np.exp(-steps / 50)
  curve[230:260] += 3.0
  rule = rules.Rule(window=1, min_points=2)
  assert len(rules.find_spikes(steps, curve, rule)) == 1
  mask = rules.sparse_view(steps, 100)
  assert list(steps[mask]) == [0, 100, 200, 300, 400, 499]
  assert rules.find_spikes(steps[mask], curve[mask], rule) == ()


def test_clip_statistics_take_the_percentile_and_count_what_it_clips():
  full = np.arange(1, 101, dtype=float)  # 1..100
  batch = full * 3                        # mini-batch norms are larger
  stats = rules.clip_statistics(full, batch, 90)
  assert stats['threshold'] == pytest.approx(np.percentile(full, 90))
  assert stats['clipped_fraction_full'] == pytest.approx(0.10)
  assert stats['clipped_fraction_batch'] == pytest.approx(np.mean(batch > stats['threshold']))
  assert stats['clipped_fraction_batch'] > 0.5
  with pytest.raises(ValueError, match='no finite gradient norm'):
    rules.clip_statistics([math.nan], None)
