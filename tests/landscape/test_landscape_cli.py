"""landscape.py as a user meets it: --help, one `error:` line per bad input with nothing
written, and a run that writes its files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from landscape_trials import ROOT, quadratic_params, write_trial

from algoperf.landscape import LandscapeError, points, report
from workloads import registry


def _run(*args, timeout=180):
  return subprocess.run([sys.executable, 'landscape.py', *map(str, args)], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout)


def _one_error(proc, *words, code=2):
  assert proc.returncode == code, proc.stdout + proc.stderr
  errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and all(w in errors[0] for w in words), proc.stderr
  return errors[0]


def _nothing_written(folder):
  assert not os.path.exists(folder) or not [
      name for name in os.listdir(folder) if not name.startswith('curve_')], os.listdir(folder)


def test_help_names_the_views_and_the_workloads():
  proc = _run('--help')
  assert proc.returncode == 0
  for word in ('interpolate', 'connect', 'plane', '--output_dir', '--curve_dir',
               'noisy_quadratic'):
    assert word in proc.stdout


def test_a_missing_view_or_wrong_number_of_points_is_a_usage_error(quadratic_trials):
  _one_error(_run(*quadratic_trials[:2]), 'name one view', code=1)
  _one_error(_run('plane', *quadratic_trials[:2]), 'three trial folders', code=1)


def test_points_of_different_workloads_are_refused(tmp_path, quadratic_trials):
  other = write_trial(tmp_path, 'mlp', 'mnist1d', {'w': np.zeros(3, np.float32)},
                      with_checkpoint=False)
  out = tmp_path / 'out'
  _one_error(_run('interpolate', quadratic_trials[0], other, f'--output_dir={out}'),
             'different workloads', 'noisy_quadratic', 'mnist1d')
  _nothing_written(out)


def test_a_trial_without_a_checkpoint_says_how_to_get_one(tmp_path, quadratic_trials):
  bare = write_trial(tmp_path, 'bare', 'noisy_quadratic', {}, with_checkpoint=False)
  out = tmp_path / 'out'
  _one_error(_run('connect', quadratic_trials[0], bare, f'--output_dir={out}'),
             'has no checkpoint', '--save_checkpoints')
  _nothing_written(out)
  with pytest.raises(LandscapeError, match=r'no checkpoint at step 7; it has step\(s\) 100'):
    points.precheck([points.parse_point(f'{quadratic_trials[1]}@7')])


def test_a_checkpoint_of_another_parameter_structure_is_refused(tmp_path):
  small = write_trial(tmp_path, 'small', 'noisy_quadratic', {'theta': np.zeros(50, np.float32)})
  with pytest.raises(LandscapeError, match=r"do not have the workload's structure.*\(50,\)"):
    points.load_points([(small, None)], 'noisy_quadratic',
                       registry.get_workload('noisy_quadratic'))


def test_colinear_points_are_refused(tmp_path, quadratic_trials):
  a, b = quadratic_params(0)['theta'], quadratic_params(1)['theta']
  middle = write_trial(tmp_path, 'middle', 'noisy_quadratic', {'theta': (a + b) / 2})
  out = tmp_path / 'out'
  _one_error(_run('plane', *quadratic_trials[:2], middle, f'--output_dir={out}'),
             'colinear')
  _nothing_written(out)


def test_a_grid_larger_than_memory_is_refused_before_it_is_made():
  from algoperf.landscape import evaluate, views
  trained = [points.TrainedPoint(f'/t{i}', 1, 'noisy_quadratic', quadratic_params(i), None)
             for i in range(3)]
  ctx = views.Context('noisy_quadratic', registry.get_workload('noisy_quadratic'), trained,
                      evaluate.EvalSettings(memory_budget_mb=100), show_progress=False)
  with pytest.raises(LandscapeError, match='memory budget of 100 MB: lower --grid_points'):
    views.plane(ctx, grid_points=100_000)


def test_interpolate_writes_every_file_and_a_zero_barrier_on_a_convex_problem(
    tmp_path, quadratic_trials):
  out = tmp_path / 'out'
  proc = _run('interpolate', *quadratic_trials[:2], '--num_points=5', '--margin=0.5',
              '--num_train_examples=200', '--num_validation_examples=200',
              f'--output_dir={out}')
  assert proc.returncode == 0, proc.stderr
  assert 'barrier along the segment: train/loss 0, validation/loss 0' in proc.stdout
  assert {'interpolate.json', 'interpolate.npz', 'interpolate.png', 'landscape.html'} <= set(
      os.listdir(out))
  with open(out / 'interpolate.json', encoding='utf-8') as f:
    summary = json.load(f)
  assert summary['barriers']['segment']['train/loss'] == 0.0
  assert summary['points']['A']['trial_dir'] == quadratic_trials[0]
  arrays = np.load(out / 'interpolate.npz')
  assert len(arrays['t']) == 9 and arrays['t'][0] == -0.5
  assert not [n for n in os.listdir(out) if n.startswith('.')]  # no staging left


def test_a_view_that_fails_while_writing_leaves_no_completion_marker(tmp_path):
  from algoperf.landscape import views

  def broken():
    raise RuntimeError('disk full')
  good = views.View('plane', {'x': np.zeros(2)}, {'view': 'plane'}, [])
  report.write_view(str(tmp_path), good)
  assert report.read_summary(str(tmp_path), 'plane') is not None
  bad = views.View('interpolate', {'t': np.zeros(2)}, {'view': 'interpolate'},
                   [('interpolate.png', broken)])
  with pytest.raises(RuntimeError):
    report.write_view(str(tmp_path), bad)
  names = set(os.listdir(tmp_path))
  assert 'interpolate.json' not in names and 'interpolate.npz' not in names
  assert not [n for n in names if n.startswith('.')]
  assert {'plane.json', 'plane.npz', 'landscape.html'} <= names  # earlier view untouched


def test_the_checkpoint_folder_name_is_the_runners():
  from algoperf import checkpoint
  assert points.CHECKPOINT_SUBDIR == checkpoint.CHECKPOINT_SUBDIR


@pytest.mark.slow
def test_connect_then_plane_through_the_bend_from_the_cli(tmp_path, quadratic_trials):
  out = tmp_path / 'out'
  small = ['--num_train_examples=200', '--num_validation_examples=200', f'--output_dir={out}']
  proc = _run('connect', *quadratic_trials[:2], '--curve_steps=30', '--checkpoint_every=10',
              *small)
  assert proc.returncode == 0, proc.stderr
  assert 'barrier along the curve' in proc.stdout
  proc = _run('plane', f'--curve_dir={out}', '--grid_points=5', *small)
  assert proc.returncode == 0, proc.stderr
  with open(out / 'plane.json', encoding='utf-8') as f:
    summary = json.load(f)
  assert summary['labels'] == ['A', 'B', 'bend 1']
  assert summary['curve']['max_distance_from_plane_relative'] < 1e-6
  # Rerunning connect with other settings is refused; the trained curve stays.
  _one_error(_run('connect', *quadratic_trials[:2], '--curve_steps=31', *small),
             '--overwrite')
