"""Performance ratios, performance profiles and benchmark scores (AlgoPerf's definition).

Order of operations, as AlgoPerf's scorer applies them:
  1. held-out gating, first half: a held-out variant is infinite where its base is;
  2. the cutoff: a time above tau_max x the best time of that workload becomes infinite;
  3. held-out gating, second half: a base workload is infinite where its variant is;
  4. ratios: each base workload's time over the best remaining time (or a reference's);
  5. profile rho_s(tau) = fraction of base workloads with ratio <= tau, tau in [1, tau_max];
  6. score = trapezoid integral of rho_s on `num_points` evenly spaced taus / (tau_max - 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

DEFAULT_TAU_MAX = 4.0
DEFAULT_NUM_POINTS = 100


def _gate(times: pd.DataFrame, gated: str, by: str) -> None:
  """Set `gated` to infinity where `by` is not finite (in place)."""
  times.loc[~np.isfinite(times[by]), gated] = np.inf


def apply_cutoffs(times: pd.DataFrame, base_workloads: Iterable[str],
                  variants: Mapping[str, str], tau_max: float = DEFAULT_TAU_MAX) -> pd.DataFrame:
  """Steps 1-3: gated times of the base workloads (missing entries count as infinite).

  `variants` maps each gating variant to its base workload.
  """
  base_workloads = list(base_workloads)
  times = times.reindex(columns=base_workloads + list(variants)).astype(float).fillna(np.inf)
  for variant, base in variants.items():
    _gate(times, variant, base)
  best = times.min(axis=0)
  times = times.mask(times.gt(tau_max * best, axis=1), np.inf)
  for variant, base in variants.items():
    _gate(times, base, variant)
  return times[base_workloads]


def performance_ratios(times: pd.DataFrame, reference: str | None = None) -> pd.DataFrame:
  """Step 4: time over the best time per workload, or over the reference submission's time.

  Infinite over infinite is infinite; a finite time over an infinite reference time is 0 (the
  submission beat a reference that missed), as in AlgoPerf.
  """
  if reference is None:
    denominator = times.min(axis=0)
  elif reference in times.index:
    denominator = times.loc[reference]
  else:
    raise ValueError(f'reference submission {reference!r} is not among the scored '
                     f'submissions {list(times.index)}')
  ratios = times.div(denominator, axis=1)
  return ratios.where(~np.isinf(times), np.inf)


def tau_grid(tau_max: float = DEFAULT_TAU_MAX, num_points: int = DEFAULT_NUM_POINTS) -> np.ndarray:
  return np.linspace(1.0, tau_max, num_points)


def performance_profile(ratios: pd.DataFrame, tau_max: float = DEFAULT_TAU_MAX,
                        num_points: int = DEFAULT_NUM_POINTS,
                        num_workloads: int | None = None) -> pd.DataFrame:
  """Step 5: rho_s(tau), submissions x taus; divides by all base workloads, solved or not."""
  taus = tau_grid(tau_max, num_points)
  n = ratios.shape[1] if num_workloads is None else num_workloads
  counts = (ratios.to_numpy()[:, :, None] <= taus[None, None, :]).sum(axis=1)
  profile = pd.DataFrame(counts / n, index=ratios.index, columns=pd.Index(taus, name='tau'))
  return profile


def benchmark_scores(profile: pd.DataFrame) -> pd.Series:
  """Step 6: normalised area under each profile, in [0, 1]."""
  taus = profile.columns.to_numpy(dtype=float)
  area = np.trapezoid(profile.to_numpy(), x=taus, axis=1)
  return pd.Series(area / (taus[-1] - taus[0]), index=profile.index, name='score')
