"""analyze_runs.py end to end, as a user runs it (a subprocess: the CLI's absl flags share
names with score_submissions.py's, so the two modules never share a process)."""

import os
import subprocess
import sys

import pandas as pd
from analysis_fixtures import HERE, hand_built_tree

ROOT = os.path.dirname(os.path.dirname(HERE))


def _cli(*args, expect=0):
  proc = subprocess.run([sys.executable, 'analyze_runs.py', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == expect, proc.stdout + proc.stderr
  return proc.stdout + proc.stderr


def test_cli_writes_the_analysis_of_a_tree(tmp_path):
  tree = hand_built_tree(tmp_path / 'experiments')
  out = tmp_path / 'out'
  text = _cli(f'--experiment_dir={tree}', f'--output_dir={out}', '--workload_targets=none',
              '--num_points=3', '--sensitivity_value=final')
  assert 'study_0/trial_2' in text and f'Wrote 9 files to {out}' in text
  table = pd.read_csv(out / 'summary.csv').set_index('submission')
  assert table.loc['beta', 'time_to_target_median'] == 400
  assert table.loc['alpha', 'time_to_target_best'] == 200
  assert (out / 'curves_wl.png').stat().st_size > 10_000
  assert (out / 'sensitivity_wl.png').stat().st_size > 10_000
  assert '](curves_wl.png)' in (out / 'index.md').read_text()
  # Default targets: meta_data; one submission left out.
  _cli(f'--experiment_dir={tree}', f'--output_dir={tmp_path / "beta"}',
       '--exclude_submissions=alpha')
  assert pd.read_csv(tmp_path / 'beta' / 'summary.csv')['submission'].tolist() == ['beta']


def test_cli_errors_are_one_clear_line(tmp_path):
  text = _cli(f'--experiment_dir={tmp_path / "missing"}', f'--output_dir={tmp_path}', expect=1)
  assert 'error:' in text and 'does not exist' in text
  text = _cli('--rerun_best_seeds=2', expect=1)
  assert '--rerun_study' in text
  text = _cli(f'--experiment_dir={tmp_path}', '--workload_targets=no_such_file', expect=1)
  assert 'error:' in text and 'no_such_file' in text
  assert '--rerun_best_seeds' in _cli('--help', expect=0)
