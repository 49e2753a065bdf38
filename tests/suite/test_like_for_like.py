"""The notice's one command for a like-for-like comparison, end to end: a user's suite run,
then regenerate.py re-records NAdamW on this machine and scores the run against it."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NADAMW = ROOT / 'reference_algorithms' / 'nadamw'


@pytest.mark.slow
def test_regenerate_with_score_run_writes_the_like_for_like_leaderboard(tmp_path):
  run = subprocess.run(
      [sys.executable, 'run_suite.py', f'--submission_path={NADAMW / "submission.py"}',
       f'--tuning_search_space={NADAMW / "tuning_search_space_fixed.json"}',
       '--num_tuning_trials=1', '--workloads=noisy_quadratic', '--rng_seed=1',
       f'--experiment_dir={tmp_path / "exp"}', '--noscore', '--progress=off'],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert run.returncode == 0, run.stdout + run.stderr
  regen = subprocess.run(
      [sys.executable, 'baselines/regenerate.py', '--algorithms=nadamw',
       '--workloads=noisy_quadratic', '--num_tuning_trials=1',
       f'--output_dir={tmp_path / "exp" / "baselines_here"}',
       f'--score_run={tmp_path / "exp"}'],
      cwd=ROOT, capture_output=True, text=True, timeout=900)
  assert regen.returncode == 0, regen.stdout + regen.stderr
  assert 'Like-for-like (baselines recorded on this machine)' in regen.stdout
  page = tmp_path / 'exp' / 'leaderboard_like_for_like' / 'leaderboard.html'
  assert page.is_file()
  html = page.read_text()
  assert 'nadamw [baseline]' in html and os.path.getsize(page) > 1000
