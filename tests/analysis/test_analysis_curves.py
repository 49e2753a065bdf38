"""Learning-curve statistics: common grid, interpolation, median and IQR, by hand."""

import numpy as np
import pandas as pd
import pytest

from algoperf.analysis import curves

# Three trials evaluated at different x; grid of 5 points over [0, 20] = 0, 5, 10, 15, 20.
A = ([0, 10, 20], [1.0, 0.5, 0.3])  # on grid: 1.0, 0.75, 0.5, 0.4, 0.3
B = ([5, 15], [0.8, 0.4])           # on grid: -, 0.8, 0.6, 0.4, -   (no extrapolation)
C = ([0, 20], [0.9, 0.1])           # on grid: 0.9, 0.7, 0.5, 0.3, 0.1


def test_each_trial_interpolated_on_the_grid_without_extrapolation():
  grid = curves.common_grid([np.array(A[0], float), np.array(B[0], float)], num_points=5)
  np.testing.assert_allclose(grid, [0, 5, 10, 15, 20])
  np.testing.assert_allclose(curves.on_grid(*map(np.array, A), grid), [1.0, 0.75, 0.5, 0.4, 0.3])
  np.testing.assert_allclose(curves.on_grid(*map(np.array, B), grid),
                             [np.nan, 0.8, 0.6, 0.4, np.nan])


def test_median_and_quartiles_over_trials_by_hand():
  frame = curves.aggregate([A, B, C], num_points=5)
  np.testing.assert_allclose(frame['x'], [0, 5, 10, 15, 20])
  assert frame['num_trials'].tolist() == [2, 3, 3, 3, 2]
  # x=0: {1.0, 0.9}; x=5: {0.75, 0.8, 0.7}; x=10: {0.5, 0.6, 0.5}; x=15: {0.4, 0.4, 0.3};
  # x=20: {0.3, 0.1}. Quartiles interpolate linearly between order statistics.
  np.testing.assert_allclose(frame['median'], [0.95, 0.75, 0.5, 0.4, 0.2])
  np.testing.assert_allclose(frame['q25'], [0.925, 0.725, 0.5, 0.35, 0.15])
  np.testing.assert_allclose(frame['q75'], [0.975, 0.775, 0.55, 0.4, 0.25])


def test_non_finite_evals_dropped_and_last_of_equal_x_kept():
  x, y = curves.clean_series([3, 1, 2, 2, 4, np.nan], [30, 10, 20, 21, np.inf, 5])
  assert x.tolist() == [1, 2, 3] and y.tolist() == [10, 21, 30]
  # A trial without a finite value (diverged at once) takes no part.
  frame = curves.aggregate([A, ([0, 20], [np.nan, np.nan])], num_points=5)
  assert frame['num_trials'].tolist() == [1] * 5
  np.testing.assert_allclose(frame['median'], [1.0, 0.75, 0.5, 0.4, 0.3])


def test_gap_between_trials_is_nan_not_bridged():
  frame = curves.aggregate([([0, 1], [1.0, 1.0]), ([3, 4], [2.0, 2.0])], num_points=5)
  # Grid 0, 1, 2, 3, 4: nobody has a value at 2.
  assert frame['num_trials'].tolist() == [1, 1, 0, 1, 1]
  assert np.isnan(frame['median'][2])
  np.testing.assert_allclose(frame['median'].to_numpy()[[0, 1, 3, 4]], [1, 1, 2, 2])


def test_group_curves_per_x_axis_and_column():
  evals = pd.DataFrame({
      'experiment': '.', 'study': 'study_0', 'trial': ['trial_1'] * 3 + ['trial_2'] * 2,
      'global_step': [0, 10, 20, 0, 20],
      'accumulated_submission_time': [0.0, 5.0, 10.0, 0.0, 20.0],
      'validation/loss': [1.0, 0.5, 0.3, 0.9, 0.1]})
  table = curves.group_curves(evals, ['validation/loss', 'train/loss'], num_points=3)
  assert set(table['x_axis']) == {'global_step', 'accumulated_submission_time'}
  assert set(table['column']) == {'validation/loss'}  # no train/loss column: no curve
  by_step = table[table['x_axis'] == 'global_step']
  np.testing.assert_allclose(by_step['median'], [0.95, 0.5, 0.2])  # {1.0,.9},{.5,.5},{.3,.1}
  by_time = table[table['x_axis'] == 'accumulated_submission_time']
  np.testing.assert_allclose(by_time['x'], [0, 10, 20])
  # At 10 s trial_1 ends (0.3) and trial_2 is at 0.5; at 20 s only trial_2 (0.1).
  np.testing.assert_allclose(by_time['median'], [0.95, 0.4, 0.1])
  assert by_time['num_trials'].tolist() == [2, 2, 1]


@pytest.mark.parametrize('num_points', [2, 7])
def test_grid_spans_first_to_last_eval(num_points):
  grid = curves.common_grid([np.array([2.0, 5.0]), np.array([1.0, 3.0])], num_points)
  assert grid[0] == 1.0 and grid[-1] == 5.0 and len(grid) == num_points
