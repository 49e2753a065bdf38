"""Figures of a scoring run. Built on `matplotlib.figure.Figure`, so no GUI backend is needed
and no pyplot global state is touched."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from algoperf.plot_colours import ROUND, distinct_colours

_LINE_STYLES = ('-', '--', ':')
_MARKERS = ('o', 's', '^')


def _submission_styles(count: int, variants: tuple[str, ...]) -> list[tuple[tuple, str]]:
  """(colour, line style or marker) per submission; the variant changes with each round of
  colours, so a lighter shade also looks different in kind."""
  return [(colour, variants[k // ROUND % len(variants)])
          for k, colour in enumerate(distinct_colours(count))]


def _legend_outside(ax) -> None:
  """Right of the axes, where it covers no curve however many submissions there are."""
  ax.legend(title='submission', loc='upper left', bbox_to_anchor=(1.01, 1.0))


def profile_figure(profile: pd.DataFrame, title: str = 'Performance profiles') -> Figure:
  """rho_s(tau) per submission, the curve whose area is the benchmark score."""
  fig = Figure(figsize=(11, 5.5), layout='constrained')
  ax = fig.add_subplot()
  taus = profile.columns.to_numpy(dtype=float)
  for (submission, curve), (colour, line_style) in zip(
      profile.iterrows(), _submission_styles(len(profile), _LINE_STYLES), strict=True):
    ax.plot(taus, curve.to_numpy(dtype=float), label=str(submission), color=colour,
            linestyle=line_style, linewidth=2, alpha=0.85)
  ax.set(xlim=(taus[0], taus[-1]), ylim=(-0.02, 1.02), title=title,
         xlabel='tau: time relative to the best submission',
         ylabel='fraction of base workloads within tau')
  ax.grid(alpha=0.4)
  _legend_outside(ax)
  return fig


def times_figure(times: pd.DataFrame, title: str = 'Time to target') -> Figure:
  """Per workload, a dot per submission at its time to target (log scale); a cross at the
  right edge marks a missed target or a workload without runs."""
  workloads = list(times.columns)
  rows = np.arange(len(workloads))
  values = times.to_numpy(dtype=float)
  finite = values[np.isfinite(values)]
  miss_x = 1.5 * finite.max() if finite.size else 1.0
  fig = Figure(figsize=(11, 1.5 + 0.4 * len(workloads)), layout='constrained')
  ax = fig.add_subplot()
  spread = 0.6 / max(1, len(times))
  styles = _submission_styles(len(times), _MARKERS)
  for k, (submission, row, (colour, marker)) in enumerate(
      zip(times.index, values, styles, strict=True)):
    y = rows + (k - (len(times) - 1) / 2) * spread
    hit = np.isfinite(row)
    ax.plot(row[hit], y[hit], marker, color=colour,
            label=str(submission))
    ax.plot(np.full((~hit).sum(), miss_x), y[~hit], 'x', color=colour)
  ax.axvline(miss_x, color='grey', linestyle=':', linewidth=1)
  ax.set_xscale('log')
  ax.set_yticks(rows, workloads)
  ax.invert_yaxis()
  ax.set(title=title, xlabel='submission time to validation target (s, log scale); '
         'x at the dotted line = missed or no runs')
  ax.grid(axis='x', alpha=0.4)
  _legend_outside(ax)
  return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=dpi)
  return buffer.getvalue()
