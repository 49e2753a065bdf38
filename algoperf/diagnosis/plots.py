"""The diagnoses' figures, as the Tuning Playbook shows them (matplotlib, Agg, no pyplot)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib import transforms
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from algoperf.diagnosis import rules
from algoperf.plot_colours import distinct_colours

LABEL_MARKERS = {rules.STABLE: 'o', rules.UNSTABLE_EARLY: '^', rules.UNSTABLE_MID: 's',
                 rules.DIVERGED: 'X', rules.TOO_SHORT: '.', 'failed': 'x'}


def _positive(values: np.ndarray) -> np.ndarray:
  """Values a log axis can draw: non-finite and non-positive ones become gaps."""
  values = np.asarray(values, dtype=float).copy()
  values[~np.isfinite(values) | (values <= 0)] = np.nan
  return values


def _label_legend(ax) -> None:
  from matplotlib.lines import Line2D
  handles = [Line2D([], [], marker=m, linestyle='', color='k', label=label)
             for label, m in LABEL_MARKERS.items() if label not in ('failed',)]
  ax.legend(handles=handles, fontsize=7, loc='best')


def sweep_figure(rates: Sequence[float], curves: Sequence[tuple[np.ndarray, np.ndarray]],
                 labels: Sequence[str], final_losses: Sequence[float | None],
                 lr_star: float | None, title: str) -> Figure:
  """Left: every rate's training loss (log scale, colour by rate). Right: final loss vs
  rate, marker by verdict, lr* marked."""
  fig = Figure(figsize=(12, 4.6), layout='constrained')
  left, right = fig.subplots(1, 2)
  norm = LogNorm(min(rates), max(rates))
  cmap = matplotlib.colormaps['viridis']
  for rate, (steps, losses), label in zip(rates, curves, labels, strict=True):
    style = '-' if label == rules.STABLE else '--'
    left.plot(steps, _positive(losses), style, color=cmap(norm(rate)), lw=1.2)
  left.set(yscale='log', xlabel='step', ylabel='training loss (mini-batch)',
           title='training loss by learning rate (dashed: not stable)')
  fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=left,
               label='learning rate')
  at_top = transforms.blended_transform_factory(right.transData, right.transAxes)
  for rate, label, final in zip(rates, labels, final_losses, strict=True):
    marker = LABEL_MARKERS.get(label, 'o')
    if final is None or not np.isfinite(final) or final <= 0:  # No final loss: on the top edge.
      right.plot([rate], [0.96], marker, color=cmap(norm(rate)), ms=9, mec='k',
                 transform=at_top, clip_on=False)
    else:
      right.plot([rate], [final], marker, color=cmap(norm(rate)), ms=9, mec='k')
  if lr_star is not None:
    right.axvline(lr_star, color='0.4', ls=':', label='lr*')
  right.set(xscale='log', yscale='log', xlabel='learning rate',
            ylabel='final training loss (median of last 10%)',
            title='final loss vs rate (top edge: no finite final loss)')
  _label_legend(right)
  fig.suptitle(title)
  return fig


def dense_figure(series: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                 sparse_every: int, title: str) -> Figure:
  """Per-step training loss and validation-subset loss of each run, with the points a
  sparse eval schedule would have seen."""
  fig = Figure(figsize=(12, 4.6), layout='constrained')
  left, right = fig.subplots(1, 2)
  for colour, (name, steps, train, val_steps, val) in zip(
      distinct_colours(len(series)), series, strict=True):
    left.plot(steps, _positive(train), color=colour, lw=1, label=name)
    right.plot(val_steps, _positive(val), color=colour, lw=1.2, label=f'{name}, every step')
    mask = rules.sparse_view(val_steps, sparse_every)
    right.plot(val_steps[mask], _positive(val[mask]), 'o--', color=colour, ms=6, mfc='none',
               label=f'{name}, eval every {sparse_every} steps')
  left.set(yscale='log', xlabel='step', ylabel='training loss (mini-batch)',
           title='training loss at every step')
  right.set(yscale='log', xlabel='step', ylabel='validation-subset loss',
            title='validation subset: dense vs sparse evals')
  left.legend(fontsize=8)
  right.legend(fontsize=7)
  fig.suptitle(title)
  return fig


def clip_figure(steps: np.ndarray, full: np.ndarray, batch_steps: np.ndarray,
                batch: np.ndarray, threshold: float, percentile: float, title: str) -> Figure:
  """Gradient norm vs step and its histogram, with the recommended threshold."""
  fig = Figure(figsize=(12, 4.6), layout='constrained')
  left, right = fig.subplots(1, 2)
  if len(batch):
    left.plot(batch_steps, _positive(batch), color='0.7', lw=0.8,
              label='mini-batch gradient norm')
  left.plot(steps, _positive(full), color='C0', lw=1.2, label='train-subset gradient norm')
  left.axhline(threshold, color='C3', ls='--', label=f'p{percentile:g} = {threshold:.3g}')
  left.set(yscale='log', xlabel='step', ylabel='gradient L2 norm',
           title='gradient norm during training (clipping off)')
  left.legend(fontsize=8)
  finite = full[np.isfinite(full) & (full > 0)]
  if len(finite):
    bins = np.geomspace(finite.min(), finite.max() * 1.0001, 40)
    right.hist(finite, bins=bins, color='C0', alpha=0.7, label='train subset')
    if len(batch):
      fb = batch[np.isfinite(batch) & (batch > 0)]
      right.hist(fb, bins=np.geomspace(min(fb.min(), bins[0]), max(fb.max(), bins[-1]) * 1.0001,
                                       40), color='0.6', alpha=0.5, label='mini-batch')
  right.axvline(threshold, color='C3', ls='--', label='threshold')
  right.set(xscale='log', xlabel='gradient L2 norm', ylabel='logged steps',
            title='histogram of gradient norms')
  right.legend(fontsize=8)
  fig.suptitle(title)
  return fig


def warmup_figure(curves: Sequence[tuple[str, np.ndarray, np.ndarray, str]],
                  reference: tuple[str, np.ndarray, np.ndarray] | None, title: str) -> Figure:
  """Training loss of each warmup length (dashed: not stable), and lr*'s run if known."""
  fig = Figure(figsize=(8, 4.8), layout='constrained')
  ax = fig.subplots()
  for colour, (name, steps, losses, label) in zip(distinct_colours(len(curves)), curves, strict=True):
    ax.plot(steps, _positive(losses), '-' if label == rules.STABLE else '--', color=colour,
            lw=1.2, label=f'{name} ({label})')
  if reference is not None:
    name, steps, losses = reference
    ax.plot(steps, _positive(losses), color='k', lw=1, alpha=0.6, label=name)
  ax.set(yscale='log', xlabel='step', ylabel='training loss (mini-batch)', title=title)
  ax.legend(fontsize=8)
  return fig
