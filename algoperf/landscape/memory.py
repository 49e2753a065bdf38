"""How many parameter points one batched evaluation may hold, before anything is allocated.

A chunk of P points evaluated together on one batch needs P copies of the parameters and
P sets of activations. The per-point cost is measured on the traced (not compiled) program:
the bytes of every intermediate value of one point's evaluation, an upper bound on what is
live at once (XLA fuses and frees many). The chunk is the most points that fit the budget
(half the free memory of the device, or of the host for a CPU, unless a flag sets it); a
single point that does not fit, or a grid whose coordinates and results alone do not, is
one `LandscapeError` that says which flag to lower.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from algoperf.landscape import LandscapeError

MB = 2**20
# Host bytes a plane's grid point costs before any evaluation: its coordinates, its three
# weights, and per split its metric sums and series (float64).
PLANE_BYTES_PER_POINT = 8 * (2 + 3 + 2 * 8)


def _aval_bytes(var) -> int:
  aval = getattr(var, 'aval', None)
  shape, dtype = getattr(aval, 'shape', None), getattr(aval, 'dtype', None)
  if shape is None or dtype is None:
    return 0
  try:
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
  except TypeError:  # PRNG key types and other extended dtypes: negligible here.
    return 0


def _subjaxprs(params):
  for value in params.values():
    for item in value if isinstance(value, (tuple, list)) else (value,):
      inner = getattr(item, 'jaxpr', item)
      if hasattr(inner, 'eqns'):
        yield inner


def _jaxpr_bytes(jaxpr) -> int:
  total = 0
  for eqn in jaxpr.eqns:
    inner = list(_subjaxprs(eqn.params))
    if inner:
      total += sum(_jaxpr_bytes(j) for j in inner)
    else:
      total += sum(_aval_bytes(v) for v in eqn.outvars)
  return total


def traced_bytes(fn, *args) -> int:
  """Bytes of all intermediate values of `fn(*args)`, from its jaxpr (nothing runs)."""
  return _jaxpr_bytes(jax.make_jaxpr(fn)(*args).jaxpr)


def tree_bytes(tree) -> int:
  return sum(int(np.prod(np.shape(x), dtype=np.int64)) * np.dtype(x.dtype).itemsize
             for x in jax.tree.leaves(tree))


def available_bytes() -> int:
  """Free memory of the default device (its allocator's limit), else of the host."""
  stats = None
  try:
    stats = jax.devices()[0].memory_stats()
  except Exception:  # noqa: BLE001 - a backend without statistics
    stats = None
  if stats and stats.get('bytes_limit'):
    return int(stats['bytes_limit'] - stats.get('bytes_in_use', 0))
  try:
    return int(os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE'))
  except (ValueError, OSError, AttributeError):
    return 4 * 1024 * MB


def budget_bytes(budget_mb: float | None) -> int:
  """The flag's budget, or half the free memory."""
  if budget_mb:
    return int(budget_mb * MB)
  return available_bytes() // 2


def points_per_chunk(per_point: int, fixed: int, budget: int, wanted: int,
                     what: str = 'one parameter point') -> int:
  """The most points (≤ `wanted`) whose evaluation fits `budget` beside `fixed` bytes."""
  room = budget - fixed
  if room < per_point:
    raise LandscapeError(
        f'{what} needs about {per_point / MB:,.0f} MB to evaluate (activations of one eval '
        f'batch plus a copy of the parameters) beside {fixed / MB:,.0f} MB of trained points '
        f'and data, more than the memory budget of {budget / MB:,.0f} MB: lower '
        '--eval_batch_size, or raise --memory_budget_mb if the machine has the memory')
  return int(max(1, min(wanted, room // max(per_point, 1))))


def check_points(num_points: int, bytes_per_point: int, budget: int, hint: str) -> None:
  """Refuse a grid whose per-point records alone (weights, results) exceed the budget."""
  need = num_points * bytes_per_point
  if need > budget:
    raise LandscapeError(
        f'{num_points:,} points would need {need / MB:,.0f} MB for their coordinates and '
        f'results alone, more than the memory budget of {budget / MB:,.0f} MB: {hint}')
