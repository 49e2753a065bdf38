"""The notice's one command for a like-for-like comparison, end to end: a user's suite run,
then regenerate.py re-records NAdamW on this machine and scores the run against it."""

import json
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


def test_regenerate_refuses_to_mix_machines_in_one_baseline_set(tmp_path):
  """A set whose core baseline ran NAdamW's noisy_quadratic step at 10^9 steps/s (no machine
  here comes near): adding an algorithm recorded here is refused, before any training, with
  the way out named."""
  stored = tmp_path / 'stored'
  (stored / 'runs').mkdir(parents=True)
  (stored / 'manifest.json').write_text(json.dumps({'suite': 'lite_v1', 'algorithms': {
      'nadamw': {'probe': {'workloads': {'noisy_quadratic': {'steps_per_sec': 1e9}}}}}}))
  regen = subprocess.run(
      [sys.executable, 'baselines/regenerate.py', '--algorithms=adam',
       '--workloads=noisy_quadratic', '--num_tuning_trials=1', f'--output_dir={stored}'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert regen.returncode != 0
  assert 'differs from the one that recorded nadamw' in regen.stderr
  assert '--mixed_machines' in regen.stderr and '--output_dir' in regen.stderr
  assert not (stored / 'runs' / 'adam').exists()
