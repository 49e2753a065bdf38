"""Curve, segment and plane geometry (NumPy only, no model)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from algoperf.landscape import LandscapeError, curve, geometry

RNG = np.random.default_rng(0)


def _controls(k: int, dim: int = 7) -> np.ndarray:
  return RNG.normal(size=(k + 2, dim))


@pytest.mark.parametrize('kind', geometry.CURVES)
@pytest.mark.parametrize('k', [1, 2, 3])
def test_curves_pass_exactly_through_their_endpoints(kind, k):
  controls = _controls(k)
  weights = geometry.curve_weights(kind, k, np.array([0.0, 1.0]))
  np.testing.assert_array_equal(weights @ controls, controls[[0, -1]])
  ts = np.linspace(0, 1, 37)
  np.testing.assert_allclose(geometry.curve_weights(kind, k, ts).sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize('k', [1, 2, 4])
def test_polychain_passes_exactly_through_its_bends_and_is_linear_between(k):
  controls = _controls(k)
  knots = np.arange(k + 2) / (k + 1)
  on_knots = geometry.curve_weights('polychain', k, knots) @ controls
  np.testing.assert_allclose(on_knots, controls, rtol=0, atol=1e-15)
  # Halfway between two knots: the midpoint of the two control points.
  middles = (knots[:-1] + knots[1:]) / 2
  np.testing.assert_allclose(geometry.curve_weights('polychain', k, middles) @ controls,
                             (controls[:-1] + controls[1:]) / 2, atol=1e-14)


def test_quadratic_bezier_is_the_papers_formula():
  ts = np.linspace(0, 1, 11)
  expected = np.stack([(1 - ts)**2, 2 * ts * (1 - ts), ts**2], axis=1)
  np.testing.assert_allclose(geometry.curve_weights('bezier', 1, ts), expected, atol=1e-15)


@pytest.mark.parametrize('k', [1, 2, 3])
def test_bezier_control_points_are_recovered_from_points_of_the_curve(k):
  """The bends of a Bezier curve are control points, not points of it (as documented):
  k + 2 points of the curve at distinct t determine them exactly (Bernstein basis)."""
  controls = _controls(k)
  ts = np.linspace(0, 1, k + 2)
  basis = geometry.curve_weights('bezier', k, ts)
  on_curve = basis @ controls
  np.testing.assert_allclose(np.linalg.solve(basis, on_curve), controls, atol=1e-10)
  if k == 1:  # θ(½) = ¼θ0 + ½θ1 + ¼θ2, not θ1: the bend is off the curve.
    assert not np.allclose(on_curve[1], controls[1])


@pytest.mark.parametrize('kind', geometry.CURVES)
@pytest.mark.parametrize('k', [1, 3])
def test_bends_start_on_the_segment_so_the_curve_starts_as_the_segment(kind, k):
  a, b = RNG.normal(size=5), RNG.normal(size=5)
  start = geometry.initial_bends(k)
  controls = np.stack([a, *(wa * a + wb * b for wa, wb in start), b])
  ts = np.linspace(0, 1, 21)
  np.testing.assert_allclose(geometry.curve_weights(kind, k, ts) @ controls,
                             geometry.segment_weights(ts) @ np.stack([a, b]), atol=1e-12)


@pytest.mark.parametrize('kind', geometry.CURVES)
@pytest.mark.parametrize('k', [1, 2, 3])
def test_the_training_weights_in_jax_match_the_numpy_ones(kind, k):
  ts = np.concatenate([[0.0, 1.0], RNG.uniform(size=20), np.arange(k + 2) / (k + 1)])
  expected = geometry.curve_weights(kind, k, ts)
  got = np.stack([np.asarray(curve.weights_jax(kind, k, jnp.float32(t))) for t in ts])
  np.testing.assert_allclose(got, expected, atol=2e-6)


def test_segment_ts_hold_both_endpoints_exactly_and_the_margins():
  ts = geometry.segment_ts(61, 0.2)
  assert 0.0 in ts and 1.0 in ts
  assert ts[0] == pytest.approx(-0.2) and ts[-1] == pytest.approx(1.2)
  assert len(ts[(ts >= 0) & (ts <= 1)]) == 61
  np.testing.assert_allclose(np.diff(ts), 1 / 60)


def test_plane_coordinates_reproduce_the_three_points():
  a, b, c = RNG.normal(size=(3, 50))
  basis = geometry.plane_basis(a, b, c)
  assert basis.u @ basis.v == pytest.approx(0.0, abs=1e-12)
  assert np.linalg.norm(basis.u) == pytest.approx(1.0)
  assert np.linalg.norm(basis.v) == pytest.approx(1.0)
  for point, xy in zip((a, b, c), basis.coords, strict=True):
    np.testing.assert_allclose(basis.point(xy), point, atol=1e-12)
    np.testing.assert_allclose(basis.project(point)[0], xy, atol=1e-12)
  # The evaluated points are affine weights over A, B, C: the three are exactly theirs.
  np.testing.assert_allclose(basis.affine_weights(basis.coords), np.eye(3), atol=1e-12)
  xy = np.array([[0.3, -1.2], [5.0, 2.0]])
  w = basis.affine_weights(xy)
  np.testing.assert_allclose(w @ np.stack([a, b, c]), np.stack([basis.point(p) for p in xy]),
                             atol=1e-10)
  np.testing.assert_allclose(basis.distance_from_plane(np.stack([a, b, c])), 0, atol=1e-12)


def test_colinear_or_repeated_points_span_no_plane():
  a, b = RNG.normal(size=(2, 20))
  with pytest.raises(LandscapeError, match='colinear'):
    geometry.plane_basis(a, b, a + 2.5 * (b - a))
  with pytest.raises(LandscapeError, match='identical'):
    geometry.plane_basis(a, b, b)


def test_plane_grid_covers_the_points_with_margins():
  coords = np.array([[0.0, 0.0], [10.0, 0.0], [4.0, 5.0]])
  xs, ys = geometry.plane_grid(coords, 21, 0.2)
  assert (xs[0], xs[-1]) == pytest.approx((-2.0, 12.0))
  assert (ys[0], ys[-1]) == pytest.approx((-1.0, 6.0))


def test_barrier_is_the_max_along_the_path_minus_the_higher_endpoint():
  ts = geometry.segment_ts(11, 0.2)
  values = np.where((ts >= 0) & (ts <= 1), np.sin(np.pi * ts) + ts, 9.0)
  # Margins (t outside [0, 1], here 9) do not count; endpoints 0 and 1, peak ~1.57 inside.
  peak = max(math.sin(math.pi * t) + t for t in ts[(ts >= 0) & (ts <= 1)])
  assert geometry.barrier(values, ts) == pytest.approx(peak - 1.0)
  convex = (ts - 0.3)**2
  assert geometry.barrier(convex, ts) == 0.0
