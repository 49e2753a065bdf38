"""Ratios, cutoffs, held-out gating, profiles and scores on hand-computed tables.

The tau grid is linspace(1, 4, 100), step h = 1/33. A ratio r at the midpoint of a grid
interval (r = 1 + (j - 1/2) h, e.g. 1.5, 2.5, 3.5) adds exactly (4 - r) to the trapezoid
integral, a ratio of 1 adds 3, a ratio of exactly 4 adds h/2 = 1/66 (only the last point
counts), a miss adds 0. Score = sum / (3 * number of base workloads).
"""

import numpy as np
import pandas as pd
import pytest
from scoring_fixtures import make_targets

from algoperf.scoring import ScoringOptions, profiles, score_times

INF = np.inf


def _times(rows, columns):
  return pd.DataFrame(rows, columns=columns).set_index('submission')


THREE = make_targets({'w1': {}, 'w2': {}, 'w3': {}})
TIMES = _times([('A', 100, 300, INF), ('B', 150, 200, 700), ('C', 350, 500, INF)],
               ['submission', 'w1', 'w2', 'w3'])


def test_ratios_profile_and_score_of_three_submissions():
  result = score_times(TIMES, THREE, ScoringOptions())
  expected_ratios = pd.DataFrame({'w1': [1.0, 1.5, 3.5], 'w2': [1.5, 1.0, 2.5],
                                  'w3': [INF, 1.0, INF]}, index=['A', 'B', 'C'])
  pd.testing.assert_frame_equal(result.ratios, expected_ratios, check_names=False)
  first, last = result.profile.iloc[:, 0], result.profile.iloc[:, -1]
  assert first.to_dict() == {'A': 1 / 3, 'B': 2 / 3, 'C': 0.0}
  assert last.to_dict() == {'A': 2 / 3, 'B': 1.0, 'C': 2 / 3}
  scores = result.scores.set_index('submission')['score']
  assert scores['A'] == pytest.approx((3 + 2.5) / 9, abs=1e-12)
  assert scores['B'] == pytest.approx((2.5 + 3 + 3) / 9, abs=1e-12)
  assert scores['C'] == pytest.approx((0.5 + 1.5) / 9, abs=1e-12)
  assert result.scores['submission'].tolist() == ['B', 'A', 'C']
  assert result.scores['rank'].tolist() == [1, 2, 3]
  assert result.scores['solved'].tolist() == [3, 2, 2]


def test_tau_grid_is_algoperfs_hundred_points():
  taus = profiles.tau_grid()
  assert len(taus) == 100 and taus[0] == 1.0 and taus[-1] == 4.0


def test_ties_share_ratio_one_and_rank():
  times = _times([('A', 100, 300), ('B', 100, 300)], ['submission', 'w1', 'w2'])
  result = score_times(times, make_targets({'w1': {}, 'w2': {}}), ScoringOptions())
  assert (result.ratios.to_numpy() == 1.0).all()
  assert result.scores['score'].tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
  assert result.scores['rank'].tolist() == [1, 1]


def test_workload_nobody_solves_contributes_zero_and_still_counts():
  times = _times([('A', 100, INF), ('B', 250, INF)], ['submission', 'w1', 'w2'])
  result = score_times(times, make_targets({'w1': {}, 'w2': {}}), ScoringOptions())
  assert np.isinf(result.ratios['w2']).all()
  scores = result.scores.set_index('submission')['score']
  assert scores['A'] == pytest.approx(3 / 6, abs=1e-12)   # w1 ratio 1, w2 missed
  assert scores['B'] == pytest.approx(1.5 / 6, abs=1e-12)  # w1 ratio 2.5


def test_workload_absent_from_every_log_counts_as_missed():
  times = _times([('A', 100)], ['submission', 'w1'])
  result = score_times(times, make_targets({'w1': {}, 'w2': {}}), ScoringOptions())
  assert result.scores['score'].tolist() == pytest.approx([0.5], abs=1e-12)


def test_cutoff_keeps_exactly_tau_max_and_drops_above():
  times = _times([('A', 100), ('B', 400), ('C', 401)], ['submission', 'w1'])
  result = score_times(times, make_targets({'w1': {}}), ScoringOptions())
  assert result.ratios['w1'].tolist() == [1.0, 4.0, INF]
  scores = result.scores.set_index('submission')['score']
  assert scores['B'] == pytest.approx((1 / 66) / 3, abs=1e-12)
  assert scores['C'] == 0.0


def test_smaller_tau_max_cuts_earlier():
  times = _times([('A', 100), ('B', 250)], ['submission', 'w1'])
  result = score_times(times, make_targets({'w1': {}}), ScoringOptions(tau_max=2.0))
  assert result.ratios['w1'].tolist() == [1.0, INF]
  assert result.scores['score'].tolist() == pytest.approx([1.0, 0.0], abs=1e-12)


def test_reference_submission_ratios():
  times = _times([('A', 100, 300), ('B', 150, INF), ('C', 350, 600)],
                 ['submission', 'w1', 'w2'])
  result = score_times(times, make_targets({'w1': {}, 'w2': {}}),
                       ScoringOptions(reference_submission='B'))
  # Against B: A is faster than the reference (ratio < 1); B missed w2, so finite w2 times
  # get ratio 0 (they beat the reference) and B's own stays infinite.
  assert result.ratios.loc['A'].tolist() == [100 / 150, 0.0]
  assert result.ratios.loc['B'].tolist() == [1.0, INF]
  assert result.ratios.loc['C'].tolist() == [350 / 150, 0.0]


def test_unknown_reference_is_an_error():
  with pytest.raises(ValueError, match='reference submission'):
    score_times(TIMES, THREE, ScoringOptions(reference_submission='Z'))


HELD_OUT = make_targets({'b1': {}, 'w2': {}, 'v1': {'base_workload': 'b1'}}, held_out=['v1'])
HELD_OUT_TIMES = _times(
    [('A', 100, 100, INF),    # variant missed -> base disqualified
     ('B', 300, 100, 250),    # the only one left on b1
     ('C', INF, 100, 50),     # base missed -> its fast variant does not set the variant's best
     ('D', 350, 100, 1100)],  # variant above 4 x 250 -> base disqualified
    ['submission', 'b1', 'w2', 'v1'])


def test_held_out_gating_in_algoperf_order():
  result = score_times(HELD_OUT_TIMES, HELD_OUT, ScoringOptions())
  assert result.gated_times['b1'].tolist() == [INF, 300, INF, INF]
  assert result.ratios['b1'].tolist() == [INF, 1.0, INF, INF]
  scores = result.scores.set_index('submission')['score']
  assert scores['B'] == pytest.approx(1.0, abs=1e-12)
  assert scores[['A', 'C', 'D']].tolist() == pytest.approx([0.5] * 3, abs=1e-12)


def test_held_out_gating_off_scores_bases_alone():
  result = score_times(HELD_OUT_TIMES, HELD_OUT, ScoringOptions(held_out_workloads=()))
  # b1 best is A (100): B 300 -> 3.0 (grid point 67, h/2 + 1), D 350 -> 3.5, C missed.
  assert result.ratios['b1'].tolist() == [1.0, 3.0, INF, 3.5]
  assert list(result.gated_times.columns) == ['b1', 'w2']


def test_unlisted_variants_gate_only_with_official_flag():
  no_list = make_targets({'b1': {}, 'v1': {'base_workload': 'b1'}})
  times = _times([('A', 100, INF), ('B', 200, 300)], ['submission', 'b1', 'v1'])
  documented = score_times(times, no_list, ScoringOptions())
  official = score_times(times, no_list, ScoringOptions.official())
  assert documented.ratios['b1'].tolist() == [1.0, 2.0]
  assert official.ratios['b1'].tolist() == [INF, 1.0]
