"""The landscape figures (matplotlib, Agg, no pyplot): paths along t, curve training, and
the paper's contour plots of a plane with the points and the curve drawn in."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

PATH_COLOURS = {'segment': '#d62728', 'curve': '#1f77b4'}


def paths_figure(ts: np.ndarray, named: dict[str, dict[str, np.ndarray]],
                 primary: Sequence[str], title: str) -> Figure:
  """Left: loss along t (train solid, validation dashed); right: the error or metric.
  One colour per path (segment, curve); t outside [0, 1] shaded."""
  fig = Figure(figsize=(11, 4.2), layout='constrained')
  axes = fig.subplots(1, 2)
  quantities = [name.split('/', 1)[1] for name in primary]
  for ax, quantity in zip(axes, quantities, strict=True):
    for path, values in named.items():
      colour = PATH_COLOURS.get(path, 'k')
      for split, style in (('train', '-'), ('validation', '--')):
        key = f'{split}/{quantity}'
        if key in values:
          ax.plot(ts, values[key], style, color=colour, label=f'{path}, {split}')
    ax.axvspan(min(ts[0], 0.0), 0.0, color='0.92', zorder=0)
    ax.axvspan(1.0, max(ts[-1], 1.0), color='0.92', zorder=0)
    for end in (0.0, 1.0):
      ax.axvline(end, color='0.5', linewidth=0.8)
    ax.set_xlabel('t  (0: A, 1: B)')
    ax.set_ylabel(quantity)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.suptitle(title, fontsize=9)
  return fig


def training_figure(log: np.ndarray, title: str) -> Figure:
  """The curve's training loss E_t L(φ(t)), logged means over windows of steps."""
  fig = Figure(figsize=(6, 3.6), layout='constrained')
  ax = fig.subplots()
  if len(log):
    ax.plot(log[:, 0], log[:, 1], color=PATH_COLOURS['curve'])
  ax.set_xlabel('curve training step')
  ax.set_ylabel('training loss at a random t')
  ax.set_yscale('log')
  ax.grid(alpha=0.3)
  ax.set_title(title, fontsize=7)
  return fig


def plane_figure(xs: np.ndarray, ys: np.ndarray, grid: np.ndarray, coords: np.ndarray,
                 labels: Sequence[str], curve_xy: np.ndarray | None, title: str,
                 log_scale: bool = True) -> Figure:
  """Filled contours of `grid` (rows: y, columns: x), the three points, the segment A–B
  dashed and the curve's projection (when given), on equal axes as in the paper."""
  aspect = (ys[-1] - ys[0]) / max(xs[-1] - xs[0], 1e-12)
  fig = Figure(figsize=(7.4, min(max(5.8 * aspect, 2.6), 8.0) + 1.5), layout='constrained')
  ax = fig.subplots()
  values = np.asarray(grid, np.float64)
  finite = values[np.isfinite(values)]
  if log_scale and finite.size and finite.min() > 0:
    low, high = finite.min(), finite.max()
    levels = np.geomspace(low, high if high > low else low * 1.01, 21)
    filled = ax.contourf(xs, ys, values, levels=levels, norm=LogNorm(), cmap='viridis_r')
  else:
    filled = ax.contourf(xs, ys, values, levels=21, cmap='viridis_r')
  ax.contour(xs, ys, values, levels=filled.levels[::4], colors='k', linewidths=0.4,
             alpha=0.5)
  # The colour bar as tall as the plot, whatever its aspect.
  fig.colorbar(filled, cax=ax.inset_axes([1.03, 0.0, 0.035, 1.0]), format='%.3g')
  ax.plot(coords[:2, 0], coords[:2, 1], '--', color='#d62728', linewidth=1.4,
          label='segment A–B')
  if curve_xy is not None:
    ax.plot(curve_xy[:, 0], curve_xy[:, 1], '-', color='#ff7f0e', linewidth=2,
            label='curve (projected)')
  ax.scatter(coords[:, 0], coords[:, 1], color='w', edgecolor='k', s=60, zorder=5)
  for (x, y), label in zip(coords, labels, strict=True):
    ax.annotate(label, (x, y), textcoords='offset points', xytext=(6, 6), color='w',
                fontweight='bold')
  ax.set_aspect('equal')
  ax.set_xlabel('along B − A')
  ax.set_ylabel('orthogonal, towards C')
  ax.legend(fontsize=8, loc='upper center', bbox_to_anchor=(0.5, -0.14), ncol=2,
            frameon=False)
  ax.set_title(title, fontsize=10)
  return fig
