"""Learning curves over trials: median and inter-quartile range on a common grid.

Trials evaluate at different steps and submission times, so their curves cannot be
averaged row by row. Each trial is put on one grid first:

* the grid is `num_points` evenly spaced x values from the smallest first-eval x to the
  largest last-eval x over the trials of the group (x = global step or submission time);
* a trial's value at a grid point is the linear interpolation between its two neighbouring
  evals (`numpy.interp`); outside its own [first eval, last eval] it has no value (no
  extrapolation), so a trial that stopped early (target reached, diverged, budget) drops out
  of the statistics after its last eval instead of being held or extended;
* evals whose x or value is missing or not finite (a diverged eval) are dropped first; of
  evals at the same x the last one counts.

At each grid point the median and the 25th/75th percentiles (numpy's linear-interpolation
percentiles) are taken over the trials that have a value there, and `num_trials` says how
many that was; where no trial has one (a gap between trials' time ranges) the statistics
are NaN, so plots break the line there instead of bridging the gap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# x axis column -> axis label (with unit).
X_AXES = {'global_step': 'global step (updates)',
          'accumulated_submission_time': 'submission time (s)'}
DEFAULT_NUM_POINTS = 200
CURVE_COLUMNS = ['x', 'median', 'q25', 'q75', 'num_trials']


def clean_series(x, y) -> tuple[np.ndarray, np.ndarray]:
  """Finite (x, y) pairs sorted by x; of equal x the last pair is kept."""
  x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
  keep = np.isfinite(x) & np.isfinite(y)
  x, y = x[keep], y[keep]
  order = np.argsort(x, kind='stable')
  x, y = x[order], y[order]
  last = np.append(x[1:] != x[:-1], True) if x.size else np.zeros(0, dtype=bool)
  return x[last], y[last]


def common_grid(xs: list[np.ndarray], num_points: int = DEFAULT_NUM_POINTS) -> np.ndarray:
  """Evenly spaced points from the smallest first x to the largest last x."""
  xs = [x for x in xs if len(x)]
  if not xs:
    return np.empty(0)
  low, high = min(x[0] for x in xs), max(x[-1] for x in xs)
  return np.unique(np.linspace(low, high, num_points))


def on_grid(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
  """y at the grid points inside [x[0], x[-1]] by linear interpolation; NaN outside."""
  values = np.full(grid.shape, np.nan)
  if len(x) == 0:
    return values
  inside = (grid >= x[0]) & (grid <= x[-1])
  values[inside] = np.interp(grid[inside], x, y)
  return values


def band(values: np.ndarray) -> dict[str, np.ndarray]:
  """Median, quartiles and count over trials (rows), per grid point (column), NaN ignored."""
  values = np.atleast_2d(values)
  count = np.isfinite(values).sum(axis=0)
  stats = np.full((3, values.shape[1]), np.nan)
  has = count > 0
  if has.any():
    stats[:, has] = np.nanpercentile(values[:, has], [50, 25, 75], axis=0)
  return {'median': stats[0], 'q25': stats[1], 'q75': stats[2], 'num_trials': count}


def aggregate(trials: list[tuple[np.ndarray, np.ndarray]],
              num_points: int = DEFAULT_NUM_POINTS) -> pd.DataFrame:
  """Median/IQR curve of several (x, y) trials: columns x, median, q25, q75, num_trials."""
  cleaned = [clean_series(x, y) for x, y in trials]
  grid = common_grid([x for x, _ in cleaned], num_points)
  if grid.size == 0:
    return pd.DataFrame(columns=CURVE_COLUMNS)
  stacked = np.stack([on_grid(x, y, grid) for x, y in cleaned])
  return pd.DataFrame({'x': grid, **band(stacked)})


def group_curves(evals: pd.DataFrame, columns: list[str],
                 num_points: int = DEFAULT_NUM_POINTS) -> pd.DataFrame:
  """Curves of one group of trials for each x axis and each y column present.

  Long table: x_axis, column, x, median, q25, q75, num_trials.
  """
  frames = []
  trials = [rows for _, rows in evals.groupby(['experiment', 'study', 'trial'], sort=False)]
  for x_axis in X_AXES:
    for column in columns:
      if column not in evals or evals[column].isna().all():
        continue
      curve = aggregate([(t[x_axis], t[column]) for t in trials], num_points)
      frames.append(curve.assign(x_axis=x_axis, column=column))
  if not frames:
    return pd.DataFrame(columns=['x_axis', 'column'] + CURVE_COLUMNS)
  return pd.concat(frames, ignore_index=True)[['x_axis', 'column'] + CURVE_COLUMNS]
