"""Rule 8: a run killed with SIGKILL resumes to exactly the state of an uninterrupted run."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

DRIVER = os.path.join(os.path.dirname(__file__), 'resume_driver.py')
STEPS = 4000  # Long enough (a few seconds) that the kill lands mid-run on a fast machine.


def _run(log_dir, mode, out, wait=True, steps=STEPS, returncode=0):
  proc = subprocess.Popen([sys.executable, DRIVER, str(log_dir), str(steps), mode, str(out)])
  if wait:
    assert proc.wait(timeout=300) == returncode
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


SHORT = 300  # steps of the exact-point tests: a few evals, a few seconds


def _assert_same_params(a, b):
  first, second = np.load(a), np.load(b)
  assert int(first['step']) == int(second['step'])
  np.testing.assert_array_equal(first['kernel'], second['kernel'])
  np.testing.assert_array_equal(first['bias'], second['bias'])


def test_kill_after_the_final_checkpoint_adds_no_step_on_resume(tmp_path):
  killed = tmp_path / 'killed'
  _run(killed, 'kill_after_final_checkpoint', tmp_path / 'never.npz', steps=SHORT,
       returncode=-signal.SIGKILL)
  assert not (killed / 'trial_summary.json').exists()
  rows_at_kill = _eval_rows(killed)
  assert rows_at_kill['global_step'].iloc[-1] == SHORT

  _run(killed, 'resume', tmp_path / 'resumed.npz', steps=SHORT)
  _run(tmp_path / 'straight', 'fresh', tmp_path / 'straight.npz', steps=SHORT)
  _assert_same_params(tmp_path / 'resumed.npz', tmp_path / 'straight.npz')
  assert int(np.load(tmp_path / 'resumed.npz')['step']) == SHORT
  pd.testing.assert_frame_equal(_eval_rows(killed), rows_at_kill)  # no row added
  summary = json.loads((killed / 'trial_summary.json').read_text())
  assert summary['global_step'] == SHORT and summary['status'] == 'max_global_steps'


def test_kill_before_the_first_checkpoint_keeps_metadata_and_duplicates_no_row(tmp_path):
  killed = tmp_path / 'killed'
  _run(killed, 'kill_before_first_checkpoint', tmp_path / 'never.npz', steps=SHORT,
       returncode=-signal.SIGKILL)
  first_meta = (killed / 'meta_data_0.json').read_text()
  assert len(_eval_rows(killed)) == 1  # the eval after step 1 was logged, not checkpointed

  _run(killed, 'resume', tmp_path / 'resumed.npz', steps=SHORT)
  _run(tmp_path / 'straight', 'fresh', tmp_path / 'straight.npz', steps=SHORT)
  _assert_same_params(tmp_path / 'resumed.npz', tmp_path / 'straight.npz')
  assert (killed / 'meta_data_0.json').read_text() == first_meta
  assert json.loads((killed / 'meta_data_1.json').read_text())['preemption_count'] == 1
  rows = _eval_rows(killed)
  assert rows['global_step'].is_unique
  assert set(rows['preemption_count']) == {1}  # the redone attempt's rows only
  assert rows['global_step'].iloc[0] == 1 and rows['global_step'].iloc[-1] == SHORT


def _kill_at_random_and_resume(tmp_path, rng):
  killed = tmp_path / 'killed'
  proc = _run(killed, 'fresh', tmp_path / 'never.npz', wait=False, steps=SHORT)
  time.sleep(rng.uniform(1.0, 6.0))  # start-up, set-up, training or the end of the trial
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  _run(killed, 'resume', tmp_path / 'resumed.npz', steps=SHORT)
  _assert_same_params(tmp_path / 'resumed.npz', tmp_path / 'straight.npz')
  rows = _eval_rows(killed)
  assert rows['global_step'].is_unique and rows['global_step'].iloc[-1] == SHORT
  assert (np.diff(rows['score']) > 0).all()


@pytest.mark.slow  # the default run kills at fixed points above
def test_kill_at_a_random_point_then_resume_matches(tmp_path):
  _run(tmp_path / 'straight', 'fresh', tmp_path / 'straight.npz', steps=SHORT)
  _kill_at_random_and_resume(tmp_path, random.Random())


@pytest.mark.slow
@pytest.mark.parametrize('seed', range(12))
def test_kill_at_random_points_then_resume_matches_many_times(tmp_path, seed):
  _run(tmp_path / 'straight', 'fresh', tmp_path / 'straight.npz', steps=SHORT)
  _kill_at_random_and_resume(tmp_path, random.Random(seed))
