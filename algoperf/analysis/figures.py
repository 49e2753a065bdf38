"""The analysis figures: learning curves and hyperparameter sensitivity of one workload.

Built on `matplotlib.figure.Figure` like the scorer's plots: `savefig` renders with Agg, no
GUI backend is needed and no pyplot global state is touched.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from algoperf.analysis.curves import X_AXES
from algoperf.plot_colours import unique_colours_by_name
from algoperf.scoring.targets import WorkloadTarget

SPLIT_STYLES = {'validation': '-', 'train': '--'}


def quantities(target: WorkloadTarget) -> list[str]:
  """The y quantities plotted: the target metric, and the loss when that is another one."""
  return [target.metric] + (['loss'] if target.metric != 'loss' else [])


def direction(target: WorkloadTarget) -> str:
  return 'higher is better' if target.higher_is_better else 'lower is better'


def _target_line(ax, target: WorkloadTarget) -> Line2D | None:
  if not math.isfinite(target.validation_target):
    return None
  return ax.axhline(target.validation_target, color='black', linestyle=':', linewidth=1.2,
                    label=f'validation target = {target.validation_target:.4g}')


def curves_figure(workload: str, target: WorkloadTarget, curves: pd.DataFrame) -> Figure:
  """Rows: target metric (and loss); columns: vs global step, vs submission time.

  One colour per series; solid = validation, dashed = train; the line is the median over
  trials and the shaded band the inter-quartile range.
  """
  names = quantities(target)
  series = list(dict.fromkeys(curves['series']))
  colors = unique_colours_by_name(series)
  fig = Figure(figsize=(12, 1.2 + 3.8 * len(names)), layout='constrained')
  axes = fig.subplots(len(names), len(X_AXES), squeeze=False)
  target_handle = None
  for row, name in enumerate(names):
    for col, (x_axis, x_label) in enumerate(X_AXES.items()):
      ax = axes[row][col]
      panel = curves[curves['x_axis'] == x_axis]
      low, high = np.inf, -np.inf
      for s in series:
        for split, style in SPLIT_STYLES.items():
          data = panel[(panel['series'] == s) & (panel['column'] == f'{split}/{name}')]
          if data.empty:
            continue
          values = data[['median', 'q25', 'q75']].to_numpy(dtype=float)
          values = values[np.isfinite(values)]
          if values.size:
            low, high = min(low, values.min()), max(high, values.max())
          ax.plot(data['x'], data['median'], color=colors[s], linestyle=style, linewidth=1.8)
          ax.fill_between(data['x'], data['q25'], data['q75'], color=colors[s],
                          alpha=0.18 if split == 'validation' else 0.08, linewidth=0)
      if name == target.metric:
        target_handle = _target_line(ax, target) or target_handle
      if name == 'loss' and 0 < low and high >= 10 * low:  # log only when it spans a decade
        ax.set_yscale('log')
      label = f'{name} ({direction(target)})' if name == target.metric else f'{name}'
      ax.set(xlabel=x_label, ylabel=label + (', log scale' if ax.get_yscale() == 'log' else ''),
             title=f'{name} vs {x_label.split(" (")[0]}')
      ax.grid(alpha=0.35)
  handles = [Line2D([], [], color=colors[s], linewidth=2, label=s) for s in series]
  handles += [Line2D([], [], color='grey', linestyle=style, label=f'{split} (median)')
              for split, style in SPLIT_STYLES.items()]
  handles.append(Patch(color='grey', alpha=0.3, label='inter-quartile range over trials'))
  if target_handle is not None:
    handles.append(target_handle)
  fig.legend(handles=handles, loc='outside lower center', ncols=min(4, len(handles)))
  fig.suptitle(f'{workload}: learning curves (median and inter-quartile range over trials)')
  return fig


def varying_hyperparameters(points: pd.DataFrame) -> list[str]:
  """learning_rate when present, then every other numeric hyperparameter taking >1 value."""
  names = []
  for column in points.columns:
    if not column.startswith('hp/'):
      continue
    values = points[column].dropna()
    if (values.empty or pd.api.types.is_bool_dtype(values)
        or not pd.api.types.is_numeric_dtype(values)):
      continue
    name = column[len('hp/'):]
    if name == 'learning_rate':
      names.insert(0, name)
    elif values.nunique() > 1:
      names.append(name)
  return names


def _log_scale(name: str, values: np.ndarray) -> bool:
  values = values[np.isfinite(values)]
  if name == 'learning_rate':
    return bool(len(values) and (values > 0).all())
  return bool(len(values) and (values > 0).all() and values.max() / values.min() >= 10)


def sensitivity_figure(workload: str, target: WorkloadTarget, points: pd.DataFrame,
                       value: str = 'best') -> Figure | None:
  """Per varying numeric hyperparameter, one point per trial at its `value` ('best' or
  'final') validation metric; filled = reached the target, hollow = missed. None when no
  trial has a numeric hyperparameter."""
  names = varying_hyperparameters(points)
  if not names:
    return None
  column = f'validation_{value}'
  series = list(dict.fromkeys(points['series']))
  colors = unique_colours_by_name(series)
  ncols = min(3, len(names))
  nrows = math.ceil(len(names) / ncols)
  fig = Figure(figsize=(max(7.5, 4.6 * ncols), 1.6 + 3.6 * nrows), layout='constrained')
  axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
  shown = points[np.isfinite(points[column].astype(float))]
  target_handle = None
  for ax, name in zip(axes, names, strict=False):
    for s in series:
      rows = shown[(shown['series'] == s) & shown[f'hp/{name}'].notna()]
      reached = rows['validation_reached'].astype(bool)
      x, y = rows[f'hp/{name}'].astype(float), rows[column].astype(float)
      ax.scatter(x[reached], y[reached], color=colors[s], s=36, zorder=3)
      ax.scatter(x[~reached], y[~reached], facecolors='none', edgecolors=colors[s], s=36,
                 zorder=3)
    if _log_scale(name, points[f'hp/{name}'].dropna().to_numpy(dtype=float)):
      ax.set_xscale('log')
    target_handle = _target_line(ax, target) or target_handle
    scale = ' (log scale)' if ax.get_xscale() == 'log' else ''
    ax.set(xlabel=f'{name}{scale}', ylabel=f'{value} validation {target.metric}',
           title=f'vs {name}')
    ax.grid(alpha=0.35)
  for ax in axes[len(names):]:
    ax.set_visible(False)
  handles = [Line2D([], [], marker='o', linestyle='', color=colors[s], label=s) for s in series]
  handles += [Line2D([], [], marker='o', linestyle='', color='grey', label='reached target'),
              Line2D([], [], marker='o', linestyle='', markerfacecolor='none',
                     markeredgecolor='grey', label='missed target')]
  if target_handle is not None:
    handles.append(target_handle)
  fig.legend(handles=handles, loc='outside lower center', ncols=min(2 * ncols, len(handles)))
  hidden = len(points) - len(shown)
  note = f'; {hidden} trial(s) without a finite value not shown' if hidden else ''
  fig.suptitle(f'{workload}: {value} validation {target.metric} ({direction(target)}) per '
               f'trial{note}')
  return fig
