"""Running a submission on a suite: layout, resume, failures, scoring with baselines, CLI."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from algoperf import suite as suite_lib
from algoperf import suite_runner
from workloads import registry
from workloads.mnist1d import input_pipeline as mnist1d_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = suite_lib.load_suite(suite_lib.LITE)
NADAMW = os.path.join(ROOT, 'reference_algorithms', 'nadamw', 'submission.py')
FIXED = os.path.join(ROOT, 'reference_algorithms', 'nadamw', 'tuning_search_space_fixed.json')


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  """MNIST-1D from the real generator with 6000 samples, in the workload's cache file."""
  directory = os.fspath(tmp_path_factory.mktemp('data'))
  path = mnist1d_pipeline.cache_path(directory)
  os.makedirs(os.path.dirname(path))
  np.savez(path, **mnist1d_pipeline.generate(6_000))
  return directory


def _config(tmp_path, data_dir, **overrides):
  values = dict(submission_path=NADAMW, experiment_dir=os.fspath(tmp_path),
                tuning_search_space=FIXED, num_tuning_trials=2, workloads=('mnist1d',),
                rng_seed=3, data_dir=data_dir, max_global_steps=4, show_progress=False)
  values.update(overrides)
  return suite_runner.SuiteRunConfig(**values)


def _run(config, get_workload=registry.get_workload):
  lines = []
  runs = suite_runner.run_suite(SUITE, config, get_workload, registry.base_workload_name,
                                print_fn=lines.append)
  return runs, lines


def test_run_layout_progress_resume_and_refusal(tmp_path, data_dir):
  config = _config(tmp_path, data_dir)
  runs, lines = _run(config)
  assert [r.workload for r in runs] == ['mnist1d'] and runs[0].error is None
  assert lines[0].startswith('[1/1] mnist1d: 2 trial(s) of at most 90 s')
  trials = tmp_path / 'runs' / 'nadamw' / 'lite_v1' / 'study_0' / 'mnist1d_jax'
  assert sorted(os.listdir(trials)) == ['study.json', 'trial_1', 'trial_2']
  for i in (1, 2):
    rows = pd.read_csv(trials / f'trial_{i}' / 'eval_measurements.csv')
    assert rows['global_step'].tolist() == [1, 4]
  record = json.loads((tmp_path / 'runs' / 'nadamw' / 'suite_run.json').read_text())
  assert record['rng_seed'] == 3 and record['resumed'] == 0
  assert record['workloads'] == ['mnist1d'] and record['num_tuning_trials'] == 2

  # The same command again: finished trials are kept, nothing is rerun.
  before = (trials / 'trial_1' / 'eval_measurements.csv').read_text()
  again, _ = _run(config)
  assert [o.summary for o in again[0].outcomes] == [o.summary for o in runs[0].outcomes]
  assert (trials / 'trial_1' / 'eval_measurements.csv').read_text() == before
  assert not (trials / 'trial_1' / 'meta_data_1.json').exists()
  record = json.loads((tmp_path / 'runs' / 'nadamw' / 'suite_run.json').read_text())
  assert record['resumed'] == 1

  # A different run into the same folder is refused, unless asked to overwrite.
  with pytest.raises(suite_runner.SuiteRunError, match='num_tuning_trials.*--overwrite'):
    _run(_config(tmp_path, data_dir, num_tuning_trials=1))
  fresh, _ = _run(_config(tmp_path, data_dir, num_tuning_trials=1, overwrite=True))
  assert [o.plan.trial_index for o in fresh[0].outcomes] == [1]
  assert not (trials / 'trial_2').exists()


def test_a_failing_workload_is_recorded_and_the_suite_goes_on(tmp_path, data_dir):
  def get_workload(name):
    workload = registry.get_workload(name)
    if name == 'fashion_mnist':
      workload.load_splits = lambda data_dir: (_ for _ in ()).throw(
          FileNotFoundError('no Fashion-MNIST here'))
    return workload

  # A closure as the workload factory: trials run in this process.
  config = _config(tmp_path, data_dir, workloads=('fashion_mnist', 'mnist1d'),
                   num_tuning_trials=1, isolate_trials=False)
  runs, lines = _run(config, get_workload)
  assert runs[0].error == 'FileNotFoundError: no Fashion-MNIST here'
  assert runs[1].error is None and runs[1].outcomes[0].summary['global_step'] == 4
  assert any('FAILED: FileNotFoundError' in line for line in lines)
  table = suite_runner.summary_lines(SUITE, runs)
  assert 'failed' in table[1] and 'not reached' in table[2]


def test_workload_that_disagrees_with_the_suite_is_refused(tmp_path, data_dir):
  def get_workload(name):
    workload = registry.get_workload(name)
    workload.VALIDATION_TARGET = 0.5
    return workload

  with pytest.raises(suite_runner.SuiteRunError, match="workload 'mnist1d' is defined as"):
    _run(_config(tmp_path, data_dir, isolate_trials=False), get_workload)


def test_time_to_target_is_the_median_over_studies_of_the_best_trial():
  from algoperf import experiment, tuning

  def outcome(study, trial, ttt):
    plan = tuning.TrialPlan(study_index=study, trial_index=trial, seed=0,
                            hyperparameters=None)
    return experiment.TrialOutcome(plan, '', {'time_to_validation_target': ttt})

  run = suite_runner.WorkloadRun('w', [outcome(0, 1, 9.0), outcome(0, 2, 4.0),
                                       outcome(1, 1, 6.0), outcome(2, 1, 20.0)])
  assert run.time_to_target() == 6.0
  # A study that never reached the target counts as infinitely slow: the median moves up
  # and becomes None once half of the studies missed.
  run.outcomes.append(outcome(3, 1, None))
  assert run.time_to_target() == 13.0
  run.outcomes.append(outcome(4, 1, None))
  assert run.time_to_target() == 20.0
  run.outcomes.append(outcome(5, 1, None))
  assert run.time_to_target() is None


def test_scoring_puts_runs_and_baselines_on_one_leaderboard(tmp_path, data_dir):
  _run(_config(tmp_path, data_dir, num_tuning_trials=1, max_global_steps=2))
  baselines = tmp_path / 'stored'
  shutil.copytree(tmp_path / 'runs' / 'nadamw', baselines / 'adam')
  result, written = suite_runner.score_suite(SUITE, os.fspath(tmp_path), os.fspath(baselines))
  assert sorted(result.scores['submission']) == ['adam [baseline]', 'nadamw']
  board = tmp_path / 'leaderboard'
  assert os.fspath(board / 'leaderboard.html') in written
  page = (board / 'leaderboard.html').read_text()
  assert 'adam [baseline]' in page and 'nadamw' in page
  # The analysis of this run is written next to the page and linked from it.
  assert os.fspath(board / 'analysis' / 'curves_mnist1d.png') in written
  assert 'href="analysis/index.html"' in page and 'href="analysis/curves_mnist1d.png"' in page
  summary = pd.read_csv(board / 'analysis' / 'summary.csv')
  assert summary[['submission', 'workload']].values.tolist() == [['nadamw', 'mnist1d']]
  times = pd.read_csv(board / 'time_to_targets.csv', index_col=0)
  assert set(times.index) == {'adam [baseline]', 'nadamw'}
  # fashion_mnist has no runs: it scores infinity there, and the page says so.
  assert any("no runs of workload 'fashion_mnist'" in m for m in result.issues)


def test_cli_runs_scores_and_reports(tmp_path, data_dir):
  proc = subprocess.run(
      [sys.executable, 'run_suite.py', '--workloads=mnist1d', '--max_global_steps=3',
       f'--experiment_dir={tmp_path}', f'--data_dir={data_dir}', '--baselines_dir=none',
       '--rng_seed=1', '--progress=off'],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  out = proc.stdout + proc.stderr
  assert proc.returncode == 0, out
  assert '[1/1] mnist1d' in out and 'Leaderboard:' in out
  assert (tmp_path / 'leaderboard' / 'leaderboard.html').exists()
  scores = pd.read_csv(tmp_path / 'leaderboard' / 'scores.csv')
  assert scores['submission'].tolist() == ['nadamw']
  hparams = json.loads((tmp_path / 'runs' / 'nadamw' / 'lite_v1' / 'study_0' / 'mnist1d_jax'
                        / 'trial_1' / 'hparams.json').read_text())
  with open(FIXED) as f:
    assert hparams == json.load(f)[0]  # The default job runs NAdamW's first fixed point.

  bad = subprocess.run([sys.executable, 'run_suite.py', '--suite=nope'], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
  assert bad.returncode != 0 and 'no such targets file' in bad.stderr


def test_moving_workload_runs_in_keeps_the_others(tmp_path, data_dir):
  """How stored baselines gain a workload: a scratch run's folders replace just theirs."""
  stored = _config(tmp_path / 'stored', data_dir, num_tuning_trials=1)
  _run(stored)
  scratch = _config(tmp_path / 'scratch', data_dir, num_tuning_trials=1,
                    workloads=('mnist1d_gelu', 'mnist1d'), max_global_steps=2)
  _run(scratch)
  suite_runner.move_workload_runs(scratch.submission_dir, stored.submission_dir,
                                  ['mnist1d_gelu'])
  study = os.path.join(stored.submission_dir, 'lite_v1', 'study_0')
  assert sorted(os.listdir(study)) == ['mnist1d_gelu_jax', 'mnist1d_jax']
  steps = {w: pd.read_csv(os.path.join(study, f'{w}_jax', 'trial_1', 'eval_measurements.csv')
                          )['global_step'].tolist() for w in ('mnist1d', 'mnist1d_gelu')}
  assert steps == {'mnist1d': [1, 4], 'mnist1d_gelu': [1, 2]}  # mnist1d stays the stored run
  record = json.loads(open(os.path.join(stored.submission_dir, 'suite_run.json')).read())
  assert record['workloads'] == ['mnist1d', 'mnist1d_gelu']
  # The stored suite run now resumes with both workloads and reruns nothing.
  again, _ = _run(dataclasses.replace(stored, workloads=('mnist1d', 'mnist1d_gelu')))
  assert [len(r.outcomes) for r in again] == [1, 1] and all(r.error is None for r in again)
