"""diagnose.py as a user meets it: --help, and one `error:` line per bad input."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NQ = ['--workload=noisy_quadratic', '--submission_path=reference_algorithms/sgd/submission.py',
      '--tuning_search_space=reference_algorithms/sgd/tuning_search_space_fixed.json']


def _run(*args):
  return subprocess.run([sys.executable, 'diagnose.py', *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)


def _one_error_line(proc, *words):
  assert proc.returncode != 0 and proc.stdout == '', proc.stdout + proc.stderr
  first = proc.stderr.splitlines()[0]
  assert first.startswith('error: ') and all(w in first for w in words), proc.stderr
  return first


def test_help_names_the_four_diagnoses_and_the_workloads():
  proc = _run('--help')
  assert proc.returncode == 0
  for word in ('lr_sweep', 'early_instability', 'clip_threshold', 'warmup', '--output_dir',
               'char_lm_postnorm'):
    assert word in proc.stdout


def test_an_unknown_or_missing_diagnosis_is_one_error_line():
  _one_error_line(_run('lr_sweeep', *NQ), 'name one diagnosis', 'lr_sweeep')
  _one_error_line(_run(*NQ), 'name one diagnosis', 'got nothing')


def test_a_reversed_range_is_one_error_line_and_writes_nothing(tmp_path):
  proc = _run('lr_sweep', *NQ, '--lr_min=0.1', '--lr_max=0.01', f'--output_dir={tmp_path}')
  _one_error_line(proc, '--lr_min/--lr_max', 'minimum must be below the maximum')
  assert os.listdir(tmp_path) == []
