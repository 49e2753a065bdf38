"""Where the evaluated points lie, as affine weights over trained points (NumPy only).

Every evaluated point is θ = Σ_a w_a θ_a over a few "anchor" points θ_a (the endpoints,
a curve's bends, the plane's three points) with Σ_a w_a = 1. One weights matrix (points ×
anchors) thus describes a segment, a curve or a plane grid, the batched evaluation needs
nothing else, and a model state that is not recomputed is combined with the same weights.

Curves (Garipov et al., 2018), endpoints θ_0 and θ_{k+1}, bends θ_1..θ_k, t in [0, 1]:
  bezier     φ(t) = Σ_i C(n, i) t^i (1 − t)^(n−i) θ_i, n = k + 1 (Bernstein polynomial):
             through the endpoints; the bends are control points, not points of the curve
             (k = 1: (1−t)²θ_0 + 2t(1−t)θ_1 + t²θ_2)
  polychain  piecewise linear, through θ_i at t = i / (k + 1)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from algoperf.landscape import LandscapeError

CURVES = ('bezier', 'polychain')
# Below this sine of the angle between B − A and C − A the three points are colinear.
COLINEAR_SINE = 1e-6


def segment_ts(num_points: int, margin: float = 0.0) -> np.ndarray:
  """`num_points` equally spaced t in [0, 1] (0 and 1 exactly), extended by whole steps on
  both sides to cover about `margin` beyond each end (t < 0 and t > 1)."""
  if num_points < 2:
    raise LandscapeError(f'a path needs at least 2 points, got {num_points}')
  if margin < 0:
    raise LandscapeError(f'the margin must be >= 0, got {margin}')
  extra = int(round(margin * (num_points - 1)))
  return np.arange(-extra, num_points + extra, dtype=np.float64) / (num_points - 1)


def segment_weights(ts: np.ndarray) -> np.ndarray:
  """(len(ts), 2): θ(t) = (1 − t) θ_A + t θ_B."""
  ts = np.asarray(ts, np.float64)
  return np.stack([1.0 - ts, ts], axis=1)


def curve_weights(curve: str, num_bends: int, ts: np.ndarray) -> np.ndarray:
  """(len(ts), num_bends + 2): the weights of θ_0, θ_1..θ_k, θ_{k+1} at each t in [0, 1]."""
  if curve not in CURVES:
    raise LandscapeError(f'unknown curve {curve!r}; one of {", ".join(CURVES)}')
  if num_bends < 1:
    raise LandscapeError(f'a curve needs at least one bend, got --num_bends={num_bends}')
  ts = np.asarray(ts, np.float64)
  if np.any(ts < 0) or np.any(ts > 1):
    raise LandscapeError('a curve is defined for t in [0, 1] only')
  n = num_bends + 1
  if curve == 'bezier':
    i = np.arange(n + 1)
    binomial = np.array([math.comb(n, k) for k in i], np.float64)
    return binomial * ts[:, None] ** i * (1.0 - ts[:, None]) ** (n - i)
  weights = np.zeros((len(ts), n + 1))
  position = ts * n                       # in [0, n]; knot i at position i
  left = np.minimum(np.floor(position).astype(int), n - 1)
  fraction = position - left
  rows = np.arange(len(ts))
  weights[rows, left] = 1.0 - fraction
  weights[rows, left + 1] += fraction
  return weights


def initial_bends(num_bends: int) -> np.ndarray:
  """(k, 2): bend i starts at (1 − s) θ_0 + s θ_{k+1}, s = i / (k + 1), on the segment.

  For both curve types the curve then is the segment itself (Bezier control points equally
  spaced on a line trace that line), as Garipov et al. initialise it."""
  s = np.arange(1, num_bends + 1, dtype=np.float64) / (num_bends + 1)
  return np.stack([1.0 - s, s], axis=1)


def barrier(values: np.ndarray, ts: np.ndarray) -> float:
  """Max of `values` along the path on t in [0, 1], minus the higher endpoint (≥ 0).

  `ts` must contain 0 and 1 (the endpoints), as `segment_ts` and the curve grid do."""
  values, ts = np.asarray(values, np.float64), np.asarray(ts, np.float64)
  inside = (ts >= 0) & (ts <= 1)
  ends = [np.flatnonzero(np.isclose(ts, end, atol=1e-12)) for end in (0.0, 1.0)]
  if not all(len(e) for e in ends):
    raise LandscapeError('a barrier needs the path evaluated at both endpoints')
  higher_end = max(values[ends[0][0]], values[ends[1][0]])
  return float(np.max(values[inside]) - higher_end)


@dataclasses.dataclass(frozen=True)
class PlaneBasis:
  """The plane through A, B, C: origin A, orthonormal u (along B − A) and v (Gram–Schmidt).

  `coords` holds (x, y) of A, B, C: (0, 0), (|B − A|, 0), (⟨C − A, u⟩, ⟨C − A, v⟩)."""
  origin: np.ndarray
  u: np.ndarray
  v: np.ndarray
  coords: np.ndarray   # (3, 2)

  def project(self, points: np.ndarray) -> np.ndarray:
    """(m, 2) plane coordinates of flat points (m, d) (their orthogonal projection)."""
    delta = np.atleast_2d(points) - self.origin
    return np.stack([delta @ self.u, delta @ self.v], axis=1)

  def distance_from_plane(self, points: np.ndarray) -> np.ndarray:
    """(m,) distance of each flat point from the plane."""
    delta = np.atleast_2d(points) - self.origin
    coords = self.project(points)
    residual = delta - coords[:, :1] * self.u - coords[:, 1:] * self.v
    return np.linalg.norm(residual, axis=1)

  def point(self, xy) -> np.ndarray:
    """The flat point at plane coordinates (x, y)."""
    x, y = xy
    return self.origin + x * self.u + y * self.v

  def affine_weights(self, xys: np.ndarray) -> np.ndarray:
    """(m, 3) weights over A, B, C of the points at plane coordinates `xys` (m, 2).

    origin + x u + y v = (1 − α − β) A + α B + β C, with (α, β) solving the 2×2 system of
    B − A and C − A in plane coordinates; exact for points of the plane."""
    xys = np.atleast_2d(np.asarray(xys, np.float64))
    edges = (self.coords[1:] - self.coords[0]).T          # columns: B − A, C − A
    alpha_beta = np.linalg.solve(edges, (xys - self.coords[0]).T).T
    return np.column_stack([1.0 - alpha_beta.sum(axis=1), alpha_beta])


def plane_basis(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> PlaneBasis:
  """Gram–Schmidt basis of the plane through three flat float64 points.

  Raises `LandscapeError` when two points coincide or the three are colinear (no plane)."""
  a, b, c = (np.asarray(p, np.float64) for p in (a, b, c))
  ab, ac = b - a, c - a
  length_ab, length_ac = np.linalg.norm(ab), np.linalg.norm(ac)
  if length_ab == 0 or length_ac == 0 or np.linalg.norm(c - b) == 0:
    raise LandscapeError('two of the three points are identical: they span no plane')
  u = ab / length_ab
  along = ac @ u
  normal = ac - along * u
  # Re-orthogonalise once: one pass loses orthogonality when C − A is nearly along u.
  normal -= (normal @ u) * u
  height = np.linalg.norm(normal)
  if height < COLINEAR_SINE * length_ac:
    raise LandscapeError(
        f'the three points are colinear (the third lies on the line through the first two '
        f'to a relative distance of {height / length_ac:.1e}): they span no plane; pick a '
        'third point off that line (another seed, or a trained curve\'s bend)')
  v = normal / height
  coords = np.array([[0.0, 0.0], [length_ab, 0.0], [along, height]])
  return PlaneBasis(a, u, v, coords)


def plane_grid(coords: np.ndarray, num_points: int, margin: float,
               extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """x and y axes (each `num_points`) of a grid around `coords` (and `extra` points, e.g.
  a curve's projection), extended by `margin` × the extent on every side."""
  if num_points < 2:
    raise LandscapeError(f'--grid_points must be >= 2, got {num_points}')
  if margin < 0:
    raise LandscapeError(f'--margin must be >= 0, got {margin}')
  everything = coords if extra is None else np.concatenate([coords, extra])
  low, high = everything.min(axis=0), everything.max(axis=0)
  extent = high - low
  extent = np.where(extent > 0, extent, max(extent.max(), 1.0))
  low, high = low - margin * extent, high + margin * extent
  return np.linspace(low[0], high[0], num_points), np.linspace(low[1], high[1], num_points)
