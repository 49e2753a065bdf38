"""Seed reruns of a study's best setting, on real toy-workload runs (library and CLI)."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from analysis_fixtures import HERE, SGD, ToyWorkload, meta, toy_study, write_trial

from algoperf import analysis
from algoperf.analysis import rerun

ROOT = os.path.dirname(os.path.dirname(HERE))


@pytest.fixture(scope='module')
def source(tmp_path_factory):
  """A real study: study_0/toy_jax/trial_1 (lr 0.1, reaches the target), trial_2 (lr 0.01)."""
  experiments = tmp_path_factory.mktemp('source') / 'experiments'
  outcomes = toy_study(experiments)
  assert outcomes[0].summary['validation_target_reached']
  assert not outcomes[1].summary['validation_target_reached']
  return experiments


@pytest.fixture
def experiments(source, tmp_path):
  copy = tmp_path / 'experiments'
  shutil.copytree(source, copy)
  return copy


def _trial(experiments, study, trial):
  return experiments / 'sgd' / f'study_{study}' / 'toy_jax' / f'trial_{trial}'


def _json(path):
  return json.loads(path.read_text())


def test_study_best_trial_is_the_one_that_reached(experiments):
  best, workload = rerun.study_best_trial(str(experiments / 'sgd' / 'study_0'))
  assert workload == 'toy' and best['trial'] == 'trial_1'
  assert best['hparams'] == {'learning_rate': 0.1}


def test_rerun_writes_k_trials_same_hparams_new_seeds(experiments):
  done = rerun.rerun_best_seeds(str(experiments / 'sgd' / 'study_0'), 3, ToyWorkload, 'toy',
                                rng_seed=7, max_global_steps=5, save_checkpoints=False)
  assert done.study_dir == str(experiments / 'sgd' / 'study_1')
  assert done.source_trial == str(_trial(experiments, 0, 1))
  assert 'fastest' in done.reason and [o.error for o in done.outcomes] == [None] * 3
  source_seed = _json(_trial(experiments, 0, 1) / 'meta_data_0.json')['rng_seed']
  seeds = []
  for i in (1, 2, 3):
    trial = _trial(experiments, 1, i)
    assert _json(trial / 'hparams.json') == {'learning_rate': 0.1}
    seeds.append(_json(trial / 'meta_data_0.json')['rng_seed'])
    assert pd.read_csv(trial / 'eval_measurements.csv')['global_step'].iloc[-1] == 5
  assert seeds == done.seeds and len(set(seeds)) == 3 and source_seed not in seeds
  record = _json(experiments / 'sgd' / 'study_1' / 'toy_jax' / 'seed_rerun.json')
  assert record['source_trial'] == os.path.join('study_0', 'toy_jax', 'trial_1')
  assert record['hyperparameters'] == {'learning_rate': 0.1} and record['num_seeds'] == 3
  # Curves and summary now show the seeds as their own series.
  result = analysis.analyze_directory(str(experiments))
  seeds_row = result.summary[result.summary['runs'] == 'seeds'].iloc[0]
  assert seeds_row['series'] == 'sgd: best setting x 3 seeds (study_1)'
  assert seeds_row['trials'] == 3 and seeds_row['best_hparams'] == {'learning_rate': 0.1}
  assert result.summary[result.summary['runs'] == 'tuning']['trials'].tolist() == [2]
  curve = result.curves['toy']
  first = curve[(curve['series'] == seeds_row['series']) & (curve['x_axis'] == 'global_step')
                & (curve['column'] == 'validation/loss')].iloc[0]
  assert first['x'] == 1 and first['num_trials'] == 3
  # A second rerun goes to the next free study index.
  assert rerun.next_study_index(str(experiments / 'sgd')) == 2


def test_rerun_refuses_without_hyperparameters_or_study(tmp_path):
  write_trial(tmp_path, 'self', 0, 'wl', 1, [1, 2], [0.1, 0.2],
              meta_data=meta(submission_path=SGD))
  with pytest.raises(rerun.RerunError, match='no hparams.json'):
    rerun.rerun_best_seeds(str(tmp_path / 'self' / 'study_0'), 2, ToyWorkload, 'toy')
  with pytest.raises(rerun.RerunError, match='not a study_<k> folder'):
    rerun.rerun_best_seeds(str(tmp_path / 'self'), 2, ToyWorkload, 'toy')
  assert sorted(os.listdir(tmp_path / 'self')) == ['study_0']  # nothing written


def test_cli_rerun_then_analysis(experiments, tmp_path):
  out = tmp_path / 'out'
  proc = subprocess.run(
      [sys.executable, os.path.join(HERE, 'toy_cli.py'), '--rerun_best_seeds=2',
       f'--rerun_study={experiments / "sgd" / "study_0"}', '--rng_seed=1',
       '--max_global_steps=4', f'--experiment_dir={experiments}', f'--output_dir={out}',
       '--workload_targets=none'],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert 'reran' in proc.stdout and 'study_1' in proc.stdout
  hparams = [_json(_trial(experiments, 1, i) / 'hparams.json') for i in (1, 2)]
  assert hparams == [{'learning_rate': 0.1}] * 2
  seeds = {_json(_trial(experiments, 1, i) / 'meta_data_0.json')['rng_seed'] for i in (1, 2)}
  assert len(seeds) == 2
  table = pd.read_csv(out / 'summary.csv')
  assert table['runs'].tolist() == ['tuning', 'seeds'] and table['trials'].tolist() == [2, 2]
  assert (out / 'index.html').is_file()
