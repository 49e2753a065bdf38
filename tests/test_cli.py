"""The two CLIs end to end on the offline mnist1d workload, as a user runs them."""

import json
import os
import subprocess
import sys

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, expect=0):
  proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == expect, proc.stdout + proc.stderr
  return proc.stdout + proc.stderr


def test_study_then_refusal_then_resume_then_scoring(tmp_path):
  runner_args = [
      'submission_runner.py', '--workload=mnist1d',
      '--submission_path=reference_algorithms/nadamw/submission.py',
      '--tuning_search_space=reference_algorithms/nadamw/tuning_search_space_fixed.json',
      '--num_tuning_trials=2', '--num_studies=2', '--rng_seed=5', '--max_global_steps=30',
      f'--experiment_dir={tmp_path}', '--experiment_name=nadamw', '--progress=off']
  out = _run(*runner_args)
  assert 'study 0 trial 1:' in out and 'study 1 trial 2:' in out
  for k in (0, 1):
    for i in (1, 2):
      trial = tmp_path / 'nadamw' / f'study_{k}' / 'mnist1d_jax' / f'trial_{i}'
      rows = pd.read_csv(trial / 'eval_measurements.csv')
      assert rows['global_step'].tolist() == [1, 30]
      assert json.loads((trial / 'trial_summary.json').read_text())['status'] == \
          'max_global_steps'
      assert set(json.loads((trial / 'hparams.json').read_text())) >= {'learning_rate'}
  # Fixed-space trials: trial i gets point i in every study.
  hp = lambda k, i: json.loads((tmp_path / 'nadamw' / f'study_{k}' / 'mnist1d_jax' /  # noqa: E731
                                f'trial_{i}' / 'hparams.json').read_text())
  assert hp(0, 1) == hp(1, 1) != hp(0, 2)

  refused = _run(*runner_args, expect=2)
  assert 'already holds logs' in refused and '--resume_last_run' in refused
  resumed = _run(*runner_args, '--resume_last_run')
  assert 'study 1 trial 2:' in resumed
  # Finished trials are kept as they were, not rerun.
  first = tmp_path / 'nadamw' / 'study_0' / 'mnist1d_jax' / 'trial_1'
  assert pd.read_csv(first / 'eval_measurements.csv')['global_step'].tolist() == [1, 30]
  assert not (first / 'meta_data_1.json').exists()

  out_dir = tmp_path / 'board'
  scored = _run('score_submissions.py', f'--submission_directory={tmp_path}',
                f'--output_dir={out_dir}', '--workload_targets=lite_v1')
  scores = pd.read_csv(out_dir / 'scores.csv')
  assert scores['submission'].tolist() == ['nadamw']
  assert (out_dir / 'time_to_targets.csv').exists()
  assert any(name.endswith('.html') for name in os.listdir(out_dir))
  assert 'nadamw' in scored


def test_bad_flags_get_one_clear_error(tmp_path):
  out = _run('submission_runner.py', '--workload=nope', '--submission_path=x.py',
             f'--experiment_dir={tmp_path}', expect=1)
  assert "Unknown workload 'nope'" in out and 'mnist1d' in out
  out = _run('submission_runner.py', '--workload=mnist1d',
             '--submission_path=reference_algorithms/nadamw/submission.py',
             f'--experiment_dir={tmp_path}', expect=2)
  assert 'search space' in out.lower()
