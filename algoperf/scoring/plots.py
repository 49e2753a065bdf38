"""Figures of a scoring run. Built on `matplotlib.figure.Figure`, so no GUI backend is needed
and no pyplot global state is touched."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def profile_figure(profile: pd.DataFrame, title: str = 'Performance profiles') -> Figure:
  """rho_s(tau) per submission, the curve whose area is the benchmark score."""
  fig = Figure(figsize=(9, 5.5), layout='constrained')
  ax = fig.add_subplot()
  profile.T.plot(ax=ax, linewidth=2, alpha=0.85)
  taus = profile.columns.to_numpy(dtype=float)
  ax.set(xlim=(taus[0], taus[-1]), ylim=(-0.02, 1.02), title=title,
         xlabel='tau: time relative to the best submission',
         ylabel='fraction of base workloads within tau')
  ax.grid(alpha=0.4)
  ax.legend(title='submission', loc='lower right')
  return fig


def times_figure(times: pd.DataFrame, title: str = 'Time to target') -> Figure:
  """Per workload, a dot per submission at its time to target (log scale); a cross at the
  right edge marks a missed target or a workload without runs."""
  workloads = list(times.columns)
  rows = np.arange(len(workloads))
  values = times.to_numpy(dtype=float)
  finite = values[np.isfinite(values)]
  miss_x = 1.5 * finite.max() if finite.size else 1.0
  fig = Figure(figsize=(9, 1.5 + 0.4 * len(workloads)), layout='constrained')
  ax = fig.add_subplot()
  spread = 0.6 / max(1, len(times))
  for k, (submission, row) in enumerate(zip(times.index, values, strict=True)):
    y = rows + (k - (len(times) - 1) / 2) * spread
    hit = np.isfinite(row)
    (dots,) = ax.plot(row[hit], y[hit], 'o', label=str(submission))
    ax.plot(np.full((~hit).sum(), miss_x), y[~hit], 'x', color=dots.get_color())
  ax.axvline(miss_x, color='grey', linestyle=':', linewidth=1)
  ax.set_xscale('log')
  ax.set_yticks(rows, workloads)
  ax.invert_yaxis()
  ax.set(title=title, xlabel='submission time to validation target (s, log scale); '
         'x at the dotted line = missed or no runs')
  ax.grid(axis='x', alpha=0.4)
  ax.legend(title='submission', loc='best')
  return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=dpi)
  return buffer.getvalue()
