"""The instruments dashboard (algoperf/instruments/dashboard.py, instrument_dashboard.py):
synthetic instrument logs written with InstrumentLog, as a run writes them, and synthetic
eval rows, turned into the PNG and the self-contained HTML page."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from algoperf import logs
from algoperf.instruments import dashboard
from algoperf.instruments.log import InstrumentLog, NoInstrumentLogs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
ALL = dashboard.SCALAR_QUANTITIES + (dashboard.HIST_1D, dashboard.HIST_2D)


def write_trial(trial_dir, quantities=ALL, steps=range(0, 300, 1), histogram_every=50,
                evals=True, learning_rate=True, seed=0, x_edges='x_edges'):
  """A trial folder with instrument logs of `quantities` at `steps`, eval rows every 50 steps
  and (with `learning_rate`) a learning-rate column in measurements.csv; returns it.
  `x_edges`: how the 2-D histogram's edges are named (`x_edges` or `xedges`)."""
  rng = np.random.default_rng(seed)
  os.makedirs(trial_dir, exist_ok=True)
  log = InstrumentLog(str(trial_dir))
  log.write_meta({'quantities': list(quantities), 'schedule': 'linear(every=1)',
                  'forward_mode': 'train (dropout on)'})
  for step in steps:
    decay = np.exp(-step / 150)
    values = {
        'loss': 2.3 * decay + 0.1 + 0.05 * rng.standard_normal(),
        'grad_norm': 3 * decay + 0.2 * rng.random(), 'update_size': 0.05 * decay + 1e-3,
        'distance': 2 * (1 - decay), 'alpha': 0.3 * rng.standard_normal() - 0.2 * decay,
        'norm_test': 0.5 + rng.random(), 'inner_test': 0.3 + 0.2 * rng.random(),
        'ortho_test': 1 + rng.random(), 'mean_gsnr': 0.1 + 0.05 * rng.random(),
        'hess_trace': 50 * decay - 2, 'hess_max_ev': 5 + 20 * (1 - decay),
        'tic_diag': 10 * decay + 1, 'tic_trace': 8 * decay + 1,
        'early_stopping': 0.5 - decay, 'cabs': 128 + 500 * (1 - decay)}
    scalars = {q: float(v) for q, v in values.items() if q in quantities}
    # Per-tensor arrays at every step, as the quantities library writes them, so the last
    # file need not hold the histograms.
    arrays = {'grad_norm_layers': np.full(3, values['grad_norm'])}
    if histogram_every and step % histogram_every == 0:
      grads = rng.standard_normal(5000) * decay
      params = rng.standard_normal(5000)
      if dashboard.HIST_1D in quantities:
        counts, edges = np.histogram(grads, bins=40)
        arrays.update(grad_hist_1d=counts, grad_hist_1d_edges=edges)
      if dashboard.HIST_2D in quantities:
        # x: the gradient element, y: the parameter's value (algoperf/instruments/quantities.py).
        counts, xedges, yedges = np.histogram2d(grads + 0.1 * params, params, bins=(40, 50))
        arrays.update({'grad_hist_2d': counts, f'grad_hist_2d_{x_edges}': xedges,
                       f'grad_hist_2d_{x_edges.replace("x", "y")}': yedges})
    log.append(step, 0, scalars, arrays)
  if evals:
    metrics = logs.MetricsLogger(str(trial_dir))
    for step in steps:
      if learning_rate and step % 10 == 0:
        metrics.append_scalar_metrics({'learning_rate': 0.1 * (1 - step / 400)}, step)
      if step % 50 == 0:
        metrics.append_scalar_metrics(
            {'score': step * 0.1, 'train/loss': 2.3 * np.exp(-step / 150) + 0.1,
             'validation/loss': 2.3 * np.exp(-step / 170) + 0.2,
             'validation/accuracy': 1 - np.exp(-step / 100), 'train/accuracy':
             1 - np.exp(-step / 90)}, step, preemption_count=0, is_eval=True)
  return str(trial_dir)


def _texts(fig) -> str:
  """Every note on the panels, on one line (notes are wrapped to the panel's width)."""
  return ' '.join(' '.join(t.get_text().split()) for ax in fig.axes for t in ax.texts)


def _page(path) -> str:
  with open(path, encoding='utf-8') as f:
    return f.read()


def test_write_full_trial_png_and_self_contained_html(tmp_path):
  trial = write_trial(tmp_path / 'exp' / 'study_0' / 'toy_jax' / 'trial_1')
  out = tmp_path / 'out'
  start = time.perf_counter()
  paths = dashboard.write([trial], str(out))
  elapsed = time.perf_counter() - start
  assert [os.path.basename(p) for p in paths] == [dashboard.DASHBOARD_PNG,
                                                  dashboard.DASHBOARD_HTML]
  with open(paths[0], 'rb') as f:
    png = f.read()
  assert png.startswith(PNG_MAGIC) and len(png) > 20_000
  page = _page(paths[1])
  assert 'http://' not in page and 'https://' not in page
  assert not re.search(r'<(script|link)\b', page)
  images = re.findall(r'<img [^>]*src="([^"]+)"', page)
  assert images and all(src.startswith('data:image/png;base64,') for src in images)
  assert base64.b64decode(images[0].split(',', 1)[1]) == png
  assert 'toy_jax/trial_1' in page and 'linear(every=1)' in page
  assert 'http-equiv="refresh"' not in page
  # A few hundred tracked steps: cheap enough to redraw at every eval (generous on a busy
  # shared machine; about 1 s alone).
  assert elapsed < 8, elapsed


def test_every_panel_draws_when_everything_is_tracked(tmp_path):
  trials = dashboard.load_trials([write_trial(tmp_path / 'trial_1')])
  assert trials[0].learning_rate[0] == 'learning_rate'
  assert trials[0].histograms[dashboard.HIST_1D][0] == 250  # the last steps have none
  assert trials[0].histograms[dashboard.HIST_2D][0] == 250
  texts = _texts(dashboard.figure(trials))
  assert 'not tracked' not in texts and 'no values yet' not in texts
  assert 'no learning rate' not in texts and 'no eval rows' not in texts
  titles = {ax.get_title() or ax.get_title(loc='left') for ax in dashboard.figure(trials).axes}
  assert {'Performance: loss', 'Performance: accuracy', 'Curvature: TIC',
          'Gradient elements: 2-D histogram'} <= titles


def test_missing_quantities_are_named_on_their_panels(tmp_path):
  trial = write_trial(tmp_path / 'trial_1', quantities=('loss', 'grad_norm', 'alpha'),
                      histogram_every=0, evals=False)
  fig = dashboard.figure(dashboard.load_trials([trial]))
  by_title = {ax.get_title() or ax.get_title(loc='left'):
              ' '.join(' '.join(t.get_text().split()) for t in ax.texts) for ax in fig.axes}
  assert 'not tracked: hess_trace' in by_title['Curvature: Hessian trace']
  assert 'not tracked: hess_max_ev' in by_title['Curvature: 2/lambda_max vs learning rate']
  assert 'no learning rate logged in measurements.csv or instruments.csv' in by_title[
      'Curvature: 2/lambda_max vs learning rate']
  assert 'not tracked: norm_test' in by_title['Gradient tests (max theta that passes)']
  assert 'not tracked: grad_hist_1d' in by_title['Gradient elements: 1-D histogram']
  assert 'not tracked: grad_hist_2d' in by_title['Gradient elements: 2-D histogram']
  assert 'no eval rows yet' in by_title['Performance: loss']
  assert 'not tracked' not in by_title['Gradient norm']
  assert 'not tracked' not in by_title['Step size: alpha distribution']
  paths = dashboard.write([trial], str(tmp_path / 'out'))
  assert 'Not tracked by any trial: update_size' in _page(paths[1])


def test_partly_tracked_pair_and_a_trial_before_its_first_step(tmp_path):
  """Distance tracked by one of two trials; a trial whose CSV has no rows yet."""
  a = write_trial(tmp_path / 'a' / 'trial_1', seed=1)
  b = write_trial(tmp_path / 'b' / 'trial_1', quantities=('loss', 'grad_norm'), seed=2)
  texts = _texts(dashboard.figure(dashboard.load_trials([a, b])))
  assert 'not tracked: distance in b/trial_1' in texts
  empty = tmp_path / 'c' / 'trial_1'
  os.makedirs(empty)
  InstrumentLog(str(empty)).write_meta({'quantities': ['grad_norm'], 'schedule': 'x',
                                        'forward_mode': 'y'})
  texts = _texts(dashboard.figure(dashboard.load_trials([str(empty)])))
  assert 'no values yet: grad_norm' in texts and 'not tracked: alpha' in texts
  assert dashboard.write([str(empty)], str(tmp_path / 'out'))


def test_comparison_of_two_trials(tmp_path):
  a = write_trial(tmp_path / 'exp' / 'study_0' / 'toy_jax' / 'trial_1', seed=1)
  b = write_trial(tmp_path / 'exp' / 'study_0' / 'toy_jax' / 'trial_2', seed=2,
                  learning_rate=False, x_edges='xedges')
  trials = dashboard.load_trials([a, b])
  assert [t.label for t in trials] == ['toy_jax/trial_1', 'toy_jax/trial_2']
  assert trials[0].colour != trials[1].colour
  fig = dashboard.figure(trials)
  assert [t.get_text() for t in fig.legends[0].get_texts()] == [t.label for t in trials]
  assert 'no learning rate logged by toy_jax/trial_2 in measurements.csv' in _texts(fig)
  grad_norm = next(ax for ax in fig.axes if ax.get_title() == 'Gradient norm')
  assert {line.get_color() for line in grad_norm.lines} == {t.colour for t in trials}
  two_d = [ax for ax in fig.axes if ax.collections and ax.get_xlabel() == 'per-example gradient element']
  assert len(two_d) == 2
  paths = dashboard.write([a, b], str(tmp_path / 'out'), refresh_seconds=30)
  page = _page(paths[1])
  assert 'toy_jax/trial_1' in page and 'toy_jax/trial_2' in page
  assert 'content="30"' in page


def test_labels_and_finding_trials(tmp_path):
  assert dashboard.trial_labels(['/x/e1/study_0/w_jax/trial_1', '/x/e2/study_0/w_jax/trial_1']
                                ) == ['e1/study_0/w_jax/trial_1', 'e2/study_0/w_jax/trial_1']
  a = write_trial(tmp_path / 'e' / 'study_0' / 'w_jax' / 'trial_1', steps=range(5))
  b = write_trial(tmp_path / 'e' / 'study_0' / 'w_jax' / 'trial_2', steps=range(5))
  os.makedirs(tmp_path / 'e' / 'study_0' / 'w_jax' / 'trial_3')  # no instruments
  assert dashboard.find_trials(str(tmp_path / 'e')) == [a, b]


def test_the_dashboard_knows_every_quantity_of_the_library():
  from algoperf import instruments
  assert set(ALL) == set(instruments.QUANTITIES)


def test_learning_rate_column_names():
  frame = pd.DataFrame({'global_step': [1, 2], 'lr_schedule_name': ['a', 'b'],
                        'train/lr': [0.1, 0.2], 'clr': [1, 2]})
  assert dashboard.learning_rate_column(frame) == 'train/lr'
  assert dashboard.learning_rate_column(frame[['global_step', 'clr']]) is None
  assert dashboard.learning_rate_column(pd.DataFrame(
      {'global_step': [1], 'optimizer/learning_rate': [0.3]})) == 'optimizer/learning_rate'


def test_learning_rate_from_instruments_csv(tmp_path):
  """Where the submission logs none, a learning_rate column of the observer's is drawn."""
  trial = write_trial(tmp_path / 'trial_1', steps=range(3), learning_rate=False)
  log = InstrumentLog(trial)
  log.append(3, 0, {'grad_norm': 1.0, 'learning_rate': 0.05}, {})
  (trial_data,) = dashboard.load_trials([trial])
  assert trial_data.learning_rate[0] == 'learning_rate'
  assert list(trial_data.learning_rate[2]) == [0.05]


def test_no_instrument_logs_raises_naming_the_file(tmp_path):
  with pytest.raises(NoInstrumentLogs, match='instruments.json'):
    dashboard.write([str(tmp_path)], str(tmp_path / 'out'))


def _cli(*args):
  return subprocess.run([sys.executable, 'instrument_dashboard.py', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)


def test_cli_help_is_fast():
  start = time.perf_counter()
  proc = _cli('--help')
  assert proc.returncode == 0, proc.stderr
  assert '--trial_dirs' in proc.stdout and '--experiment_dir' in proc.stdout
  assert time.perf_counter() - start < 15
  # Nothing heavy is imported for --help.
  check = ('import sys, instrument_dashboard; '
           'assert not {"jax", "matplotlib", "pandas"} & set(sys.modules), sorted(sys.modules)')
  assert subprocess.run([sys.executable, '-c', check], cwd=ROOT).returncode == 0


def test_cli_writes_the_dashboard(tmp_path):
  a = write_trial(tmp_path / 'e' / 'study_0' / 'w_jax' / 'trial_1', steps=range(0, 60))
  write_trial(tmp_path / 'e' / 'study_0' / 'w_jax' / 'trial_2', steps=range(0, 60))
  out = tmp_path / 'out'
  proc = _cli(f'--experiment_dir={tmp_path / "e"}', f'--output_dir={out}')
  assert proc.returncode == 0, proc.stderr
  assert str(out / dashboard.DASHBOARD_HTML) in proc.stdout
  assert '2 trials' in proc.stdout
  assert (out / dashboard.DASHBOARD_PNG).read_bytes().startswith(PNG_MAGIC)
  proc = _cli(f'--trial_dirs={a}', f'--output_dir={out / "one"}')
  assert proc.returncode == 0, proc.stderr
  assert (out / 'one' / dashboard.DASHBOARD_PNG).is_file()


def _one_error_line(proc, *words):
  assert proc.returncode == 1, proc.stdout + proc.stderr
  first = proc.stderr.splitlines()[0]
  assert first.startswith('error: ') and all(w in first for w in words), proc.stderr
  assert proc.stdout == ''


def test_cli_errors_are_one_line(tmp_path):
  os.makedirs(tmp_path / 'trial_1')
  _one_error_line(_cli(f'--trial_dirs={tmp_path / "trial_1"}',
                       f'--output_dir={tmp_path / "out"}'),
                  '--trial_dirs', 'instruments.json', 'trial_1')
  _one_error_line(_cli(f'--experiment_dir={tmp_path}', f'--output_dir={tmp_path / "out"}'),
                  '--experiment_dir', 'instruments.json')
  _one_error_line(_cli(f'--trial_dirs={tmp_path / "nowhere"}'), '--trial_dirs', 'nowhere')
  _one_error_line(_cli(), '--trial_dirs', '--experiment_dir')
  assert not (tmp_path / 'out').exists()
