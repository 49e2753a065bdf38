"""Figures of a scoring run. Built on `matplotlib.figure.Figure`, so no GUI backend is needed
and no pyplot global state is touched."""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from algoperf.plot_colours import colours_by_name

_LINE_STYLES = ('-', '--', ':')
_MARKERS = ('o', 's', '^')
# The user's own run: drawn last, on top of the others, and thicker.
_HIGHLIGHT = {'zorder': 4, 'alpha': 1.0}
_PLAIN = {'zorder': 2, 'alpha': 0.85}
_MISS_STEP = 1.12  # factor between the missed-target crosses of one workload


def _submission_styles(names: Sequence[str], variants: tuple[str, ...]
                       ) -> list[tuple[tuple, str]]:
  """(colour, line style or marker) per submission, from its name alone (see
  plot_colours.colours_by_name): names sharing a colour differ in the variant."""
  styles = colours_by_name([str(n) for n in names])
  return [(colour, variants[k % len(variants)])
          for colour, k in (styles[str(n)] for n in names)]


def _legend_outside(ax) -> None:
  """Right of the axes, where it covers no curve however many submissions there are."""
  ax.legend(title='submission', loc='upper left', bbox_to_anchor=(1.01, 1.0))


def _zero_markers(k: int, count: int, points: int) -> dict:
  """Markers, staggered per submission, for a curve flat at 0: a line on the x axis alone
  hides under the axis and under the other zero curves."""
  every = max(1, points // 8)
  return {'marker': 'o', 'markersize': 4, 'markevery': (k * every // max(1, count), every)}


def profile_figure(profile: pd.DataFrame, title: str = 'Performance profiles',
                   highlight: Collection[str] = ()) -> Figure:
  """rho_s(tau) per submission, the curve whose area is the benchmark score; the
  `highlight`ed submissions (the user's runs) are drawn thicker and on top."""
  fig = Figure(figsize=(11, 5.5), layout='constrained')
  ax = fig.add_subplot()
  taus = profile.columns.to_numpy(dtype=float)
  styles = _submission_styles(list(profile.index), _LINE_STYLES)
  for k, ((submission, curve), (colour, line_style)) in enumerate(
      zip(profile.iterrows(), styles, strict=True)):
    values = curve.to_numpy(dtype=float)
    mine = str(submission) in highlight
    zero = _zero_markers(k, len(profile), len(taus)) if not np.any(values > 0) else {}
    ax.plot(taus, values, label=str(submission), color=colour, linestyle=line_style,
            linewidth=3.5 if mine else 1.8, clip_on=False,
            **(_HIGHLIGHT if mine else _PLAIN), **zero)
  ax.set(xlim=(taus[0], taus[-1]), ylim=(-0.05, 1.03), title=title,
         xlabel='tau: time relative to the best submission',
         ylabel='fraction of base workloads within tau')
  ax.grid(alpha=0.4)
  _legend_outside(ax)
  return fig


def _miss_positions(values: np.ndarray, miss_x: float) -> np.ndarray:
  """x of each missed target: the j-th miss on a workload at miss_x * step**j, so the
  crosses of one workload form a row instead of a pile at one point."""
  missed = ~np.isfinite(values)
  rank = np.cumsum(missed, axis=0) - 1  # per workload (column), the order of its misses
  return np.where(missed, miss_x * _MISS_STEP ** rank, np.nan)


def _label_miss_counts(ax, values: np.ndarray, rows: np.ndarray, miss_x: float) -> float:
  """'N missed' right of each workload's crosses; returns the x where the labels end."""
  counts = (~np.isfinite(values)).sum(axis=0)
  for row, count in zip(rows, counts, strict=True):
    if count:
      ax.annotate(f'{count} missed', (miss_x * _MISS_STEP ** count, row), fontsize=8,
                  va='center', color='dimgrey')
  return miss_x * _MISS_STEP ** (counts.max(initial=0) + 4)


def times_figure(times: pd.DataFrame, title: str = 'Time to target',
                 highlight: Collection[str] = ()) -> Figure:
  """Per workload, a dot per submission at its time to target (log scale); crosses right
  of the dotted line mark missed targets or workloads without runs, with their count.
  The `highlight`ed submissions (the user's runs) get bigger markers, drawn on top."""
  workloads = list(times.columns)
  rows = np.arange(len(workloads))
  values = times.to_numpy(dtype=float)
  finite = values[np.isfinite(values)]
  miss_x = 1.5 * finite.max() if finite.size else 1.0
  misses = _miss_positions(values, miss_x)
  fig = Figure(figsize=(11, 1.5 + 0.4 * len(workloads)), layout='constrained')
  ax = fig.add_subplot()
  spread = 0.6 / max(1, len(times))
  styles = _submission_styles(list(times.index), _MARKERS)
  for k, (submission, row, (colour, marker)) in enumerate(
      zip(times.index, values, styles, strict=True)):
    y = rows + (k - (len(times) - 1) / 2) * spread
    hit = np.isfinite(row)
    mine = str(submission) in highlight
    look = {'markersize': 10 if mine else 6, **(_HIGHLIGHT if mine else _PLAIN)}
    ax.plot(row[hit], y[hit], marker, color=colour, label=str(submission),
            markeredgecolor='black' if mine else colour, **look)
    ax.plot(misses[k][~hit], y[~hit], 'x', color=colour, **look)
  ax.axvline(miss_x, color='grey', linestyle=':', linewidth=1)
  ax.set_xscale('log')
  ax.set_xlim(right=_label_miss_counts(ax, values, rows, miss_x))
  ax.set_yticks(rows, workloads)
  ax.invert_yaxis()
  ax.set(title=title, xlabel='submission time to validation target (s, log scale); '
         'x right of the dotted line = missed or no runs')
  ax.grid(axis='x', alpha=0.4)
  _legend_outside(ax)
  return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=dpi)
  return buffer.getvalue()
