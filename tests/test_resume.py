"""Rule 8: a run killed with SIGKILL resumes to exactly the state of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd

DRIVER = os.path.join(os.path.dirname(__file__), 'resume_driver.py')
STEPS = 4000  # Long enough (a few seconds) that the kill lands mid-run on a fast machine.


def _run(log_dir, mode, out, wait=True):
  proc = subprocess.Popen([sys.executable, DRIVER, str(log_dir), str(STEPS), mode, str(out)])
  if wait:
    assert proc.wait(timeout=300) == 0
  return proc


def _eval_rows(log_dir):
  return pd.read_csv(os.path.join(log_dir, 'eval_measurements.csv'))


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
  killed_dir = tmp_path / 'killed'
  proc = _run(killed_dir, 'fresh', tmp_path / 'never.npz', wait=False)
  deadline = time.time() + 240
  csv = killed_dir / 'eval_measurements.csv'
  while time.time() < deadline:
    if csv.exists() and len(_eval_rows(killed_dir)) >= 3:
      break
    assert proc.poll() is None, 'the run ended before it could be killed'
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  rows_at_kill = _eval_rows(killed_dir)
  assert 3 <= len(rows_at_kill) and rows_at_kill['global_step'].iloc[-1] < STEPS

  _run(killed_dir, 'resume', tmp_path / 'resumed.npz')
  _run(tmp_path / 'straight', 'fresh', tmp_path / 'straight.npz')

  resumed = np.load(tmp_path / 'resumed.npz')
  straight = np.load(tmp_path / 'straight.npz')
  assert int(resumed['step']) == int(straight['step']) == STEPS
  np.testing.assert_array_equal(resumed['kernel'], straight['kernel'])
  np.testing.assert_array_equal(resumed['bias'], straight['bias'])

  rows = _eval_rows(killed_dir)
  steps = rows['global_step'].tolist()
  assert steps == sorted(set(steps)), 'eval rows repeat or go back in time'
  assert steps[-1] == STEPS
  assert set(rows['preemption_count']) == {0, 1}
  before = rows[rows['preemption_count'] == 0]
  # Every row written before the kill that a checkpoint covers is kept, in order.
  assert before['global_step'].tolist() == rows_at_kill['global_step'].tolist()[:len(before)]
  assert len(before) >= len(rows_at_kill) - 1
  # Clocks continue across the preemption instead of restarting.
  after = rows[rows['preemption_count'] == 1]
  assert after['score'].iloc[0] > before['score'].iloc[-1]
  assert (np.diff(rows['score']) > 0).all()
  assert os.path.exists(killed_dir / 'meta_data_1.json')
  assert os.path.exists(killed_dir / 'flags_1.json')
