"""The Cockpit-style dashboard of one or several trials' instrument logs (docs/instruments.md).

    write([trial_dir, ...], output_dir)  ->  instrument_dashboard.png, instrument_dashboard.html

One figure, in the layout of Cockpit's (Schneider, Dangel & Hennig, 2021):

    step size      alpha distribution · alpha trend · distance and update size · gradient norm
    gradients      the three gradient tests · mean GSNR · early stopping and CABS · 1-D histogram
    curvature      Hessian trace · lambda_max · 2/lambda_max against the learning rate · TIC
    performance    loss (eval rows and mini-batch) · the eval metric · 2-D histogram

Several trials are drawn on the same axes, one colour per trial (`plot_colours`), except the
2-D histogram, one small map per trial. A run tracks a subset of the quantities: a panel
draws what exists and says on its face what was not tracked (or has no values yet), so the
dashboard never fails for a missing column. The HTML page embeds the PNG (base64) and adds
tables of what each trial tracked and its last values: it loads nothing from elsewhere.

Built on `matplotlib.figure.Figure` like the scorer's and the analysis' figures: rendered by
Agg, no GUI backend, no pyplot state. The runner imports this module lazily and calls
`write` at each eval (off the clock), so a long run can be watched.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import json
import math
import os
import re
import textwrap
import zipfile
from collections.abc import Callable, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker, transforms
from matplotlib.colors import LogNorm, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from algoperf import logs
from algoperf.instruments import log as instrument_log
from algoperf.plot_colours import unique_colours_by_name
from algoperf.scoring.plots import png_bytes

DASHBOARD_PNG = 'instrument_dashboard.png'
DASHBOARD_HTML = 'instrument_dashboard.html'
DPI = 72
# Eval splits as the analysis' learning curves draw them (algoperf/analysis/figures.py).
SPLIT_STYLES = {'train': '--', 'validation': '-', 'test': ':'}
ALPHA_RANGE = 1.5  # the alpha histogram's x range, +-, as Cockpit's
MAX_2D_MAPS = 4  # 2-D histograms drawn side by side in one cell
HISTOGRAM_SEARCH = 64  # histogram files looked through, from the last, for each histogram
SCALAR_QUANTITIES = ('loss', 'grad_norm', 'update_size', 'distance', 'alpha', 'norm_test',
                     'inner_test', 'ortho_test', 'mean_gsnr', 'hess_trace', 'hess_max_ev',
                     'tic_diag', 'tic_trace', 'early_stopping', 'cabs')
HIST_1D, HIST_2D = 'grad_hist_1d', 'grad_hist_2d'
_LR_COLUMN = re.compile(r'learning_rate|(^|[^a-z])lr($|[^a-z])', re.IGNORECASE)
_NOTE_COLOUR = '#8a4b00'
_NOTE_WIDTH = 44  # characters of a centred note on a panel a fifth of the figure wide
# Small tick labels and no minor ticks: matplotlib's ticks are slow to make, and the
# dashboard is redrawn at every eval of a run.
_RC = {'xtick.labelsize': 7, 'ytick.labelsize': 7, 'xtick.minor.visible': False,
       'ytick.minor.visible': False}


@dataclasses.dataclass(frozen=True)
class Trial:
  """One trial as the dashboard draws it."""
  label: str
  colour: tuple
  record: instrument_log.InstrumentRecord
  evals: pd.DataFrame  # eval_measurements.csv; empty before the first eval
  learning_rate: tuple[str, np.ndarray, np.ndarray] | None  # (column, steps, values)
  # Per histogram (grad_hist_1d, grad_hist_2d): the last step that has it, and its arrays
  # (the counts and the edges, as named in the .npz).
  histograms: dict[str, tuple[int, dict[str, np.ndarray]]]
  problems: tuple[str, ...]  # files that could not be read (drawn as notes)
  _cache: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

  @property
  def scalars(self) -> pd.DataFrame:
    return self.record.scalars

  def tracked(self, quantity: str) -> bool:
    """Asked for by the run: a column of instruments.csv, or named in instruments.json."""
    if quantity in (HIST_1D, HIST_2D):
      return quantity in self.histograms or quantity in self.quantities
    return quantity in self.scalars.columns or quantity in self.quantities

  @property
  def quantities(self) -> list[str]:
    names = self.record.meta.get('quantities') or []
    return [str(q) for q in names] if isinstance(names, list | tuple) else []

  def series(self, column: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, values) of a scalar column, finite values only; None if it has none."""
    if column not in self._cache:
      self._cache[column] = _series(self.scalars, column)
    return self._cache[column]


# --- reading -----------------------------------------------------------------------------

def _series(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray] | None:
  if column not in frame.columns or 'global_step' not in frame.columns:
    return None
  steps = pd.to_numeric(frame['global_step'], errors='coerce').to_numpy(dtype=float)
  values = pd.to_numeric(frame[column], errors='coerce').to_numpy(dtype=float)
  keep = np.isfinite(steps) & np.isfinite(values)
  return (steps[keep], values[keep]) if keep.any() else None


def _read_csv(path: str, problems: list[str]) -> pd.DataFrame:
  if not os.path.isfile(path) or not os.path.getsize(path):
    return pd.DataFrame()
  try:
    return pd.read_csv(path)
  except (OSError, ValueError, pd.errors.ParserError) as e:  # EmptyDataError is a ValueError
    problems.append(f'{os.path.basename(path)} unreadable: {e}')
    return pd.DataFrame()


def learning_rate_column(frame: pd.DataFrame) -> str | None:
  """The learning-rate column of measurements.csv (or instruments.csv): the first whose
  name contains `learning_rate`, or `lr` as a word (`lr`, `train/lr`, `lr_0`), with a
  value."""
  for column in frame.columns:
    if _LR_COLUMN.search(str(column)) and _series(frame, column) is not None:
      return str(column)
  return None


def _last_histograms(record: instrument_log.InstrumentRecord, problems: list[str]
                     ) -> dict[str, tuple[int, dict[str, np.ndarray]]]:
  """Per histogram the run tracks, its arrays at the last step (of the last
  HISTOGRAM_SEARCH with a file: per-tensor arrays can fill steps without histograms)."""
  named = record.meta.get('quantities')
  wanted = [h for h in (HIST_1D, HIST_2D) if not isinstance(named, list) or h in named]
  found: dict[str, tuple[int, dict[str, np.ndarray]]] = {}
  for step in reversed(record.histogram_steps[-HISTOGRAM_SEARCH:]):
    if all(h in found for h in wanted):
      break
    try:
      arrays = record.histograms(step)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
      problems.append(f'histograms of step {step} unreadable: {e}')
      continue
    for h in wanted:
      if h not in found and h in arrays:
        found[h] = (step, {k: v for k, v in arrays.items() if k.startswith(h)})
  return found


def _edges(arrays: dict[str, np.ndarray], *names: str) -> np.ndarray | None:
  return next((np.asarray(arrays[n], dtype=float) for n in names if n in arrays), None)


def trial_labels(trial_dirs: Sequence[str]) -> list[str]:
  """Short names that tell the trials apart: the last path parts (at least the workload and
  trial folders, e.g. `mnist_jax/trial_1`), as many as make them distinct."""
  parts = [os.path.normpath(os.path.abspath(d)).split(os.sep) for d in trial_dirs]
  longest = max((len(p) for p in parts), default=1)
  for k in range(2, longest + 1):
    labels = ['/'.join(p[-k:]) for p in parts]
    if len(set(labels)) == len(labels):
      return labels
  return [os.path.normpath(d) for d in trial_dirs]


def load_trials(trial_dirs: Sequence[str]) -> list[Trial]:
  """Read each trial's instrument logs and eval rows; `NoInstrumentLogs` for a folder
  without instrument logs (the error names the folder and the file)."""
  if not trial_dirs:
    raise ValueError('no trial folders given')
  records = [instrument_log.load(d) for d in trial_dirs]
  labels = trial_labels(trial_dirs)
  colours = unique_colours_by_name(labels)
  trials = []
  for trial_dir, label, record in zip(trial_dirs, labels, records, strict=True):
    problems: list[str] = []
    evals = _read_csv(os.path.join(trial_dir, logs.EVAL_MEASUREMENTS), problems)
    measurements = _read_csv(os.path.join(trial_dir, logs.MEASUREMENTS), problems)
    learning_rate = None
    for frame in (measurements, record.scalars):  # the submission's log, else the observer's
      if (column := learning_rate_column(frame)) is not None:
        learning_rate = (column, *_series(frame, column))
        break
    histograms = _last_histograms(record, problems)
    trials.append(Trial(label=label, colour=colours[label], record=record, evals=evals,
                        learning_rate=learning_rate, histograms=histograms,
                        problems=tuple(problems)))
  return trials


def find_trials(experiment_dir: str) -> list[str]:
  """Every folder below `experiment_dir` (itself included) with instrument logs, sorted."""
  found = []
  for root, dirs, files in os.walk(experiment_dir):
    dirs[:] = sorted(d for d in dirs if d not in ('checkpoints', instrument_log.HISTOGRAM_DIR))
    if instrument_log.INSTRUMENTS_META in files:
      found.append(root)
  return sorted(found)


# --- panels ------------------------------------------------------------------------------

def _panel_title(ax, title: str, **kwargs) -> None:
  # A fixed y: matplotlib otherwise measures every tick label to place the title, which
  # costs more than the rest of the drawing.
  ax.set_title(title, fontsize=10, fontweight='bold', y=1.0, pad=4, **kwargs)


def _which(missing: Sequence[Trial], trials: Sequence[Trial], word: str) -> str:
  """'' when every trial is concerned, else ' in a, b' (at most three names)."""
  if len(missing) == len(trials):
    return ''
  names = [t.label for t in missing[:3]]
  more = f' and {len(missing) - 3} more' if len(missing) > 3 else ''
  return f' {word} {", ".join(names)}{more}'


def _missing_notes(trials: Sequence[Trial], quantities: Sequence[str],
                   has_values: Callable[[Trial, str], bool]) -> list[str]:
  """'not tracked: q' / 'no values yet: q' lines, naming the trials when only some lack q."""
  notes = []
  for q in quantities:
    absent = [t for t in trials if not t.tracked(q)]
    empty = [t for t in trials if t.tracked(q) and not has_values(t, q)]
    for missing, what in ((absent, 'not tracked'), (empty, 'no values yet')):
      if missing:
        notes.append(f'{what}: {q}{_which(missing, trials, "in")}')
  return notes


def _scalar_notes(trials: Sequence[Trial], quantities: Sequence[str]) -> list[str]:
  return _missing_notes(trials, quantities, lambda t, q: t.series(q) is not None)


def _write_notes(ax, notes: Sequence[str], drew: bool) -> None:
  """The notes on the panel's face: centred and large on an empty panel, small at its
  bottom left otherwise."""
  if not notes:
    return
  # Wrapped to the panel's width (matplotlib's own wrapping measures the text: slow).
  width = _NOTE_WIDTH * ax.get_position().width / 0.2
  text = '\n'.join(textwrap.fill(note, width=max(30, int(width * (1.4 if drew else 1))),
                                 break_long_words=False, break_on_hyphens=False)
                   for note in notes)
  if not drew:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha='center', va='center',
            fontsize=10, color=_NOTE_COLOUR)
  else:
    ax.text(0.02, 0.02, text, transform=ax.transAxes, ha='left', va='bottom',
            fontsize=7, color=_NOTE_COLOUR,
            bbox={'facecolor': 'white', 'alpha': 0.8, 'edgecolor': 'none', 'pad': 1})


def _scale(ax, values: Sequence[np.ndarray], log: bool, axis: str = 'y') -> None:
  """Log where asked and every value is positive over more than a decade; symlog where the
  values change sign over several decades; linear otherwise."""
  if not log or not values:
    return
  data = np.concatenate([np.asarray(v, dtype=float) for v in values])
  data = data[np.isfinite(data)]
  if not data.size:
    return
  setter = ax.set_yscale if axis == 'y' else ax.set_xscale
  magnitude = np.abs(data[data != 0])
  if not magnitude.size or magnitude.max() / magnitude.min() <= 10:
    return
  if data.min() > 0:
    setter('log')
  else:
    setter('symlog', linthresh=float(np.quantile(magnitude, 0.1)))


def _style_legend(ax, styles: Sequence[tuple[str, str | dict]], **kwargs) -> None:
  """A legend of line styles (quantities), in black: the colours are the trials'. A style
  is a line style or a dict of Line2D properties."""
  handles = [Line2D([], [], **{'color': 'black', 'linewidth': 1.2,
                               **({'linestyle': s} if isinstance(s, str) else s)})
             for _, s in styles]
  ax.legend(handles, [name for name, _ in styles], fontsize=7, **kwargs)


def _lines_panel(ax, trials: Sequence[Trial], title: str,
                 lines: Sequence[tuple[str, str, str]], ylabel: str = '', log: bool = True,
                 hline: float | None = None) -> bool:
  """Each (column, legend name, line style) against the step, per trial in its colour."""
  _panel_title(ax, title)
  drawn = []
  for trial in trials:
    for column, _, style in lines:
      series = trial.series(column)
      if series is None:
        continue
      steps, values = series
      ax.plot(steps, values, color=trial.colour, linestyle=style, linewidth=1.3,
              marker='.' if len(steps) < 3 else None)
      drawn.append(values)
  if drawn:
    _scale(ax, drawn, log)
    if hline is not None:
      ax.axhline(hline, color='grey', linewidth=0.8, linestyle=':')
    ax.set_xlabel('global step', fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.grid(alpha=0.3)
    present = [(name, style) for column, name, style in lines
               if any(t.series(column) is not None for t in trials)]
    if len(lines) > 1 and present:
      _style_legend(ax, present, loc='upper right')
  _write_notes(ax, _scalar_notes(trials, [c for c, _, _ in lines]), bool(drawn))
  return bool(drawn)


def alpha_distribution(ax, trials: Sequence[Trial]) -> None:
  """Cockpit's alpha gauge: the distribution of the local step length alpha (where each
  step landed on the parabola fitted along it: -1 where it started, 0 its minimum, 1 the
  same loss on the far side), with the last 10 % of steps apart when one trial is drawn."""
  _panel_title(ax, 'Step size: alpha distribution')
  bins = np.linspace(-ALPHA_RANGE, ALPHA_RANGE, 31)
  drew, outside = False, 0
  for trial in trials:
    series = trial.series('alpha')
    if series is None:
      continue
    values = series[1]
    outside += int(np.sum(np.abs(values) > ALPHA_RANGE))
    clipped = np.clip(values, -ALPHA_RANGE, ALPHA_RANGE)
    if len(trials) == 1:
      last = clipped[-max(1, len(clipped) // 10):]
      ax.hist(clipped, bins=bins, density=True, color='grey', alpha=0.45,
              label=f'all (mean {values.mean():.2f})')
      if len(clipped) >= 10:
        ax.hist(last, bins=bins, density=True, color=trial.colour, alpha=0.75,
                label=f'last 10 % (mean {values[-len(last):].mean():.2f})')
    else:
      ax.hist(clipped, bins=bins, density=True, histtype='step', linewidth=1.5,
              color=trial.colour, label=f'mean {values.mean():.2f}')
    drew = True
  if drew:
    # The unit parabola of Cockpit's gauge, to the axes' height: where on it alpha lies.
    x = np.linspace(-ALPHA_RANGE, ALPHA_RANGE, 61)
    ax.plot(x, 0.9 * (x / ALPHA_RANGE) ** 2, color='#b0b0c0', linewidth=1.5, zorder=0,
            transform=transforms.blended_transform_factory(ax.transData, ax.transAxes))
    for x0 in (-1, 0, 1):
      ax.axvline(x0, color='#ababba', linewidth=1 if x0 else 1.5, zorder=0)
    ax.set_xlim(-ALPHA_RANGE - 0.1, ALPHA_RANGE + 0.1)
    ax.set_xlabel('local step length alpha  (<0 understep, >0 overshoot)', fontsize=8)
    ax.set_ylabel('density', fontsize=8)
    ax.legend(fontsize=7, loc='upper center')
    if outside:
      ax.text(0.98, 0.98, f'{outside} outside +-{ALPHA_RANGE} (at the edges)',
              transform=ax.transAxes, ha='right', va='top', fontsize=7, color='dimgrey')
  _write_notes(ax, _scalar_notes(trials, ['alpha']), drew)


def alpha_trend(ax, trials: Sequence[Trial]) -> None:
  """Alpha per tracked step (dots) and its running median (line)."""
  _panel_title(ax, 'Step size: alpha trend')
  drew = []
  for trial in trials:
    series = trial.series('alpha')
    if series is None:
      continue
    steps, values = series
    ax.plot(steps, values, '.', color=trial.colour, markersize=3, alpha=0.5)
    window = max(1, len(values) // 20)
    median = pd.Series(values).rolling(window, min_periods=1, center=True).median()
    ax.plot(steps, median.to_numpy(), color=trial.colour, linewidth=1.5)
    drew.append(values)
  if drew:
    data = np.concatenate(drew)
    low, high = np.quantile(data, [0.02, 0.98])
    ax.set_ylim(min(low, -1.1) - 0.1, max(high, 1.1) + 0.1)
    for y0 in (-1, 0, 1):
      ax.axhline(y0, color='#ababba', linewidth=1 if y0 else 1.5, zorder=0)
    ax.set_xlabel('global step', fontsize=8)
    ax.set_ylabel('alpha', fontsize=8)
    ax.grid(alpha=0.3)
  _write_notes(ax, _scalar_notes(trials, ['alpha']), bool(drew))


def lambda_max_against_learning_rate(ax, trials: Sequence[Trial]) -> None:
  """2/lambda_max (the largest stable step of gradient descent on the local quadratic) and
  the learning rate the submission logged, against the step."""
  _panel_title(ax, 'Curvature: 2/lambda_max vs learning rate')
  drawn = []
  for trial in trials:
    series = trial.series('hess_max_ev')
    if series is not None and (series[1] > 0).any():
      steps, values = series
      positive = values > 0
      ax.plot(steps[positive], 2 / values[positive], color=trial.colour, linewidth=1.3,
              marker='.' if positive.sum() < 3 else None)
      drawn.append(2 / values[positive])
    if trial.learning_rate is not None:
      _, steps, values = trial.learning_rate
      ax.plot(steps, values, color=trial.colour, linestyle='--', linewidth=1.3,
              marker='.' if len(steps) < 3 else None)
      drawn.append(values)
  notes = _missing_notes(trials, ['hess_max_ev'],
                         lambda t, q: t.series(q) is not None and (t.series(q)[1] > 0).any())
  no_lr = [t for t in trials if t.learning_rate is None]
  if no_lr:
    notes.append(f'no learning rate logged{_which(no_lr, trials, "by")} in '
                 f'{logs.MEASUREMENTS} or {instrument_log.INSTRUMENTS_CSV} '
                 '(a column named *learning_rate* or *lr*)')
  if drawn:
    _scale(ax, drawn, log=True)
    ax.set_xlabel('global step', fontsize=8)
    ax.grid(alpha=0.3)
    names = [(name, style) for name, style, shown in (
        ('2/lambda_max', '-', any(t.series('hess_max_ev') is not None for t in trials)),
        ('learning rate', '--', len(no_lr) < len(trials))) if shown]
    _style_legend(ax, names, loc='upper right')
  _write_notes(ax, notes, bool(drawn))


def early_stopping_and_cabs(fig, cell, trials: Sequence[Trial]) -> None:
  """The EB early-stopping criterion (stop when above 0) over CABS' suggested batch size."""
  top, bottom = cell.subgridspec(2, 1, hspace=0.55).subplots()
  _lines_panel(top, trials, 'Early stopping (EB criterion)',
               [('early_stopping', 'criterion', '-')], log=False, hline=0.0)
  _lines_panel(bottom, trials, 'CABS: suggested batch size', [('cabs', 'batch size', '-')])
  for ax in (top, bottom):
    ax.title.set_fontsize(9)
    ax.set_xlabel('')


def histogram_1d(ax, trials: Sequence[Trial]) -> None:
  """Each trial's histogram of the per-example gradient elements at its last step with one
  (`grad_hist_1d`, `grad_hist_1d_edges`)."""
  _panel_title(ax, 'Gradient elements: 1-D histogram')
  drew, bad = False, []
  for trial in trials:
    if HIST_1D not in trial.histograms:
      continue
    step, arrays = trial.histograms[HIST_1D]
    counts = np.asarray(arrays[HIST_1D], dtype=float)
    edges = _edges(arrays, f'{HIST_1D}_edges')
    if edges is None or counts.ndim != 1 or len(edges) != len(counts) + 1:
      bad.append(f'{trial.label}: {HIST_1D} and {HIST_1D}_edges do not match')
      continue
    ax.stairs(counts, edges, color=trial.colour, fill=len(trials) == 1,
              alpha=0.6 if len(trials) == 1 else 1, linewidth=1.5, label=f'step {step}')
    drew = True
  if drew:
    ax.set_yscale('symlog', linthresh=1)
    ax.set_xlabel('per-example gradient element', fontsize=8)
    ax.set_ylabel('count', fontsize=8)
    ax.legend(fontsize=7, loc='upper right')
  notes = _missing_notes(trials, [HIST_1D], lambda t, q: q in t.histograms) + bad
  _write_notes(ax, notes + [f'{t.label}: {p}' for t in trials for p in t.problems
                            if p.startswith('histograms')], drew)


def histogram_2d(fig, cell, trials: Sequence[Trial]) -> None:
  """Per trial, the 2-D histogram of (per-example gradient element, parameter value) at
  its last step with one (`grad_hist_2d` [x bins, y bins], `grad_hist_2d_x_edges`,
  `grad_hist_2d_y_edges`; `_xedges`/`_yedges` read too), counts on a log colour scale."""
  have = [t for t in trials if HIST_2D in t.histograms]
  shown = have[:MAX_2D_MAPS]
  notes = _missing_notes(trials, [HIST_2D], lambda t, q: q in t.histograms)
  if len(have) > len(shown):
    notes.append(f'first {MAX_2D_MAPS} of {len(have)} trials shown')
  axes = (cell.subgridspec(1, len(shown), wspace=0.35).subplots(squeeze=False)[0]
          if shown else [fig.add_subplot(cell)])
  _panel_title(axes[0], 'Gradient elements: 2-D histogram', loc='left')
  drew = False
  for ax, trial in zip(axes, shown, strict=False):
    step, arrays = trial.histograms[HIST_2D]
    counts = np.asarray(arrays[HIST_2D], dtype=float)
    xedges = _edges(arrays, f'{HIST_2D}_x_edges', f'{HIST_2D}_xedges')
    yedges = _edges(arrays, f'{HIST_2D}_y_edges', f'{HIST_2D}_yedges')
    if (xedges is None or yedges is None or counts.ndim != 2
        or counts.shape != (len(xedges) - 1, len(yedges) - 1)):
      _write_notes(ax, [f'{trial.label}: {HIST_2D} and its edges do not match'], False)
      continue
    positive = counts[counts > 0]
    norm = LogNorm(vmin=1, vmax=max(positive.max(), 1.5)) if positive.size else None
    ax.pcolormesh(xedges, yedges, np.ma.masked_less_equal(counts.T, 0), norm=norm,
                  cmap='viridis', rasterized=True)
    ax.axvline(0, color='grey', linewidth=0.5)
    for spine in ax.spines.values():
      spine.set_edgecolor(trial.colour)
      spine.set_linewidth(2.5)
    ax.set_xlabel('per-example gradient element', fontsize=8)
    ax.set_ylabel('parameter value' if ax is axes[0] else '', fontsize=8)
    ax.text(0.98, 0.98, f'step {step}', transform=ax.transAxes, ha='right', va='top',
            fontsize=7, color='dimgrey')
    drew = True
  _write_notes(axes[-1] if drew else axes[0], notes, drew)


def _eval_columns(trials: Sequence[Trial], metric: str) -> list[tuple[str, str]]:
  """(column, split) of `metric` in the eval rows of any trial, train then validation."""
  columns = {c for t in trials for c in t.evals.columns}
  return [(f'{split}/{metric}', split) for split in SPLIT_STYLES
          if f'{split}/{metric}' in columns]


def eval_metric(trials: Sequence[Trial]) -> str | None:
  """The eval metric besides the loss: the trial's target metric (meta_data_0.json) when
  recorded, else the first validation metric that is not the loss."""
  for trial in trials:
    path = os.path.join(trial.record.trial_dir, 'meta_data_0.json')
    try:
      name = logs.read_json(path).get('target_metric_name')
    except (OSError, ValueError, AttributeError):
      name = None
    if name and name != 'loss' and _eval_columns(trials, str(name)):
      return str(name)
  names = sorted({c.split('/', 1)[1] for t in trials for c in t.evals.columns
                  if str(c).startswith('validation/') and c != 'validation/loss'})
  return names[0] if names else None


def performance(ax, trials: Sequence[Trial], metric: str, minibatch_loss: bool) -> None:
  """The eval rows' `metric` per split (train dashed, validation solid, test dotted), and the
  mini-batch loss of the tracked steps (thin, light) under the loss."""
  _panel_title(ax, f'Performance: {metric}')
  drawn, styles = [], {}
  for trial in trials:
    if minibatch_loss and (series := trial.series('loss')) is not None:
      ax.plot(*series, color=trial.colour, linewidth=0.7, alpha=0.35)
      drawn.append(series[1])
      styles['mini-batch (instruments)'] = {'linewidth': 0.7, 'alpha': 0.4}
    for column, split in _eval_columns([trial], metric):
      series = _series(trial.evals, column)
      if series is None:
        continue
      ax.plot(*series, color=trial.colour, linestyle=SPLIT_STYLES[split], linewidth=1.6,
              marker='.' if len(series[0]) < 30 else None)
      drawn.append(series[1])
      styles[split] = SPLIT_STYLES[split]
  notes = []
  no_evals = [t for t in trials if t.evals.empty]
  if no_evals:
    notes.append(f'no eval rows yet{_which(no_evals, trials, "of")} '
                 f'({logs.EVAL_MEASUREMENTS})')
  if minibatch_loss:
    notes += _scalar_notes(trials, ['loss'])
  if drawn:
    _scale(ax, drawn, log=metric == 'loss')
    ax.set_xlabel('global step', fontsize=8)
    ax.grid(alpha=0.3)
    _style_legend(ax, list(styles.items()), loc='upper right')
  _write_notes(ax, notes, bool(drawn))


# --- the figure --------------------------------------------------------------------------

def _heading(trials: Sequence[Trial]) -> str:
  if len(trials) == 1:
    trial = trials[0]
    meta = trial.record.meta
    steps = trial.scalars['global_step'] if 'global_step' in trial.scalars else []
    last = f', last step {int(max(steps))}' if len(steps) else ''
    return (f'Instruments: {trial.label}\nschedule {meta.get("schedule", "?")} · '
            f'forward mode {meta.get("forward_mode", "?")} · {len(steps)} tracked steps{last}')
  return f'Instruments: {len(trials)} trials compared'


def figure(trials: Sequence[Trial]) -> Figure:
  """The dashboard of `trials` (from `load_trials`) as one figure."""
  fig = Figure(figsize=(19, 16))
  legend_rows = math.ceil(len(trials) / 4) if len(trials) > 1 else 0
  top = 0.93 if len(trials) == 1 else 0.955 - 0.016 * legend_rows
  grid = fig.add_gridspec(4, 4, left=0.05, right=0.985, bottom=0.04, top=top, hspace=0.42,
                          wspace=0.26)
  fig.suptitle(_heading(trials), fontsize=14, fontweight='bold', y=0.995, va='top')
  if len(trials) > 1:  # one trial: its name is the title
    handles = [Line2D([], [], color=t.colour, linewidth=3) for t in trials]
    fig.legend(handles, [t.label for t in trials], loc='upper center',
               bbox_to_anchor=(0.5, 0.975), ncol=min(len(trials), 4), fontsize=9,
               frameon=False)
  cell = fig.add_subplot
  alpha_distribution(cell(grid[0, 0]), trials)
  alpha_trend(cell(grid[0, 1]), trials)
  _lines_panel(cell(grid[0, 2]), trials, 'Distance and update size',
               [('distance', 'distance from init', '-'), ('update_size', 'update size', '--')])
  _lines_panel(cell(grid[0, 3]), trials, 'Gradient norm', [('grad_norm', 'gradient norm', '-')],
               ylabel='||g||')
  _lines_panel(cell(grid[1, 0]), trials, 'Gradient tests (max theta that passes)',
               [('norm_test', 'norm test', '-'), ('inner_test', 'inner product test', '--'),
                ('ortho_test', 'orthogonality test', ':')], hline=1.0)
  _lines_panel(cell(grid[1, 1]), trials, 'Mean GSNR', [('mean_gsnr', 'mean GSNR', '-')])
  early_stopping_and_cabs(fig, grid[1, 2], trials)
  histogram_1d(cell(grid[1, 3]), trials)
  _lines_panel(cell(grid[2, 0]), trials, 'Curvature: Hessian trace',
               [('hess_trace', 'trace', '-')])
  _lines_panel(cell(grid[2, 1]), trials, 'Curvature: lambda_max',
               [('hess_max_ev', 'lambda_max', '-')])
  lambda_max_against_learning_rate(cell(grid[2, 2]), trials)
  _lines_panel(cell(grid[2, 3]), trials, 'Curvature: TIC',
               [('tic_diag', 'TIC (diagonal)', '-'), ('tic_trace', 'TIC (trace)', '--')])
  metric = eval_metric(trials)
  performance(cell(grid[3, 0:2] if metric is None else grid[3, 0]), trials, 'loss', True)
  if metric is not None:
    performance(cell(grid[3, 1]), trials, metric, False)
  histogram_2d(fig, grid[3, 2:4], trials)
  for axis in (a for ax in fig.axes for a in (ax.xaxis, ax.yaxis)):
    if isinstance(axis.get_major_locator(), ticker.MaxNLocator):
      axis.get_major_locator().set_params(nbins=5)  # fewer ticks: quicker to draw
  return fig


# --- the page ----------------------------------------------------------------------------

def _fmt(value) -> str:
  return '' if value is None or (isinstance(value, float) and math.isnan(value)) else (
      f'{value:.4g}' if isinstance(value, float) else str(value))


def _last_value(trial: Trial, quantity: str) -> float | None:
  series = trial.series(quantity)
  return None if series is None else float(series[1][-1])


def _meta_text(meta: dict, limit: int = 20_000) -> str:
  text = json.dumps(meta, indent=1, sort_keys=True, default=str)
  return text if len(text) <= limit else text[:limit] + f'\n... ({len(text) - limit} more)'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  esc = html.escape
  head = ''.join(f'<th>{esc(h)}</th>' for h in header)
  body = ''.join('<tr>' + ''.join(f'<td>{esc(c)}</td>' for c in row) + '</tr>' for row in rows)
  return f'<div class="scroll"><table class="table"><tr>{head}</tr>{body}</table></div>'


def html_page(trials: Sequence[Trial], png: bytes, refresh_seconds: int | None = None) -> str:
  """A self-contained page: the dashboard PNG embedded, what each trial tracked, the last
  value of each quantity. `refresh_seconds` makes the browser reload it (a run watched)."""
  esc = html.escape
  swatch = '<span style="display:inline-block;width:1em;height:1em;background:{}"></span> '
  trial_rows = []
  for t in trials:
    steps = (pd.to_numeric(t.scalars['global_step'], errors='coerce').dropna()
             if 'global_step' in t.scalars else pd.Series(dtype=float))
    trial_rows.append([t.label, os.path.abspath(t.record.trial_dir),
                       ', '.join(t.quantities) or '(not recorded)',
                       str(t.record.meta.get('schedule', '')),
                       str(t.record.meta.get('forward_mode', '')), str(len(steps)),
                       str(int(steps.max())) if len(steps) else '',
                       str(len(t.record.histogram_steps)), str(len(t.evals))])
  shown = [q for q in SCALAR_QUANTITIES if any(t.series(q) is not None for t in trials)]
  value_rows = [[q, *(_fmt(_last_value(t, q)) for t in trials)] for q in shown]
  missing = [q for q in (*SCALAR_QUANTITIES, HIST_1D, HIST_2D)
             if not any(t.tracked(q) for t in trials)]
  problems = [f'{t.label}: {p}' for t in trials for p in t.problems]
  legend = ' &nbsp; '.join(
      swatch.format(to_hex(t.colour)) + esc(t.label) for t in trials)
  stamp = datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M:%S %Z')
  data = base64.b64encode(png).decode('ascii')
  parts = [
      '<!DOCTYPE html><html><head><meta charset="utf-8">',
      f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">'
      if refresh_seconds else '',
      '<title>Instruments dashboard</title><style>',
      'body{font-family:sans-serif;max-width:1500px;margin:auto;padding:1em}'
      '.table{border-collapse:collapse}.table td,.table th{padding:3px 8px;'
      'border-bottom:1px solid #ccc;text-align:left}img{max-width:100%}'
      '.scroll{overflow-x:auto;max-width:100%}.note{color:#8a4b00}',
      '</style></head><body><h1>Instruments dashboard</h1>',
      f'<p>{legend}</p><p>Written {esc(stamp)}'
      + (f'; this page reloads every {int(refresh_seconds)} s' if refresh_seconds else '')
      + '. See docs/instruments.md for what each panel shows.</p>',
      f'<img alt="instrument dashboard" src="data:image/png;base64,{data}">',
      '<h2>Trials</h2>',
      _table(['trial', 'folder', 'quantities', 'schedule', 'forward mode', 'tracked steps',
              'last step', 'steps with arrays', 'eval rows'], trial_rows),
      '<h2>Last tracked values</h2>',
      _table(['quantity', *(t.label for t in trials)], value_rows)
      if value_rows else '<p>No values tracked yet.</p>',
  ]
  if missing:
    parts.append('<p class="note">Not tracked by any trial: '
                 f'{esc(", ".join(missing))}</p>')
  parts += ['<h2>instruments.json</h2>'] + [
      f'<details><summary>{esc(t.label)}</summary><pre>{esc(_meta_text(t.record.meta))}'
      '</pre></details>' for t in trials]
  if problems:
    parts += ['<h2>Problems reading the logs</h2><ul>',
              ''.join(f'<li>{esc(p)}</li>' for p in problems), '</ul>']
  parts.append('</body></html>')
  return '\n'.join(p for p in parts if p)


def write(trial_dirs: list[str], output_dir: str, *, refresh_seconds: int | None = None
          ) -> list[str]:
  """Draw the dashboard of `trial_dirs` into `output_dir` (instrument_dashboard.png and
  .html, each replaced atomically, so a page open in a browser never reads half a file);
  return the paths written. `NoInstrumentLogs` for a trial folder without logs."""
  trials = load_trials(list(trial_dirs))
  with matplotlib.rc_context(_RC):  # ticks are made as the figure is drawn
    png = png_bytes(figure(trials), dpi=DPI)
  os.makedirs(output_dir, exist_ok=True)
  paths = [os.path.join(output_dir, DASHBOARD_PNG), os.path.join(output_dir, DASHBOARD_HTML)]
  logs.write_bytes(paths[0], png)
  logs.write_bytes(paths[1], html_page(trials, png, refresh_seconds).encode('utf-8'))
  return paths
