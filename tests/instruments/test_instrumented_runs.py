"""Instruments on real runs: they change nothing in training (same seed, bit-identical
params and eval values with and without them, also across a kill and resume), they log
every tracked step exactly once, and bad settings fail before any trial with one error."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pandas as pd
import pytest

from algoperf import experiment, runner, submission
from algoperf.instruments import log as instrument_log
from algoperf.instruments.observer import InstrumentSettings

TESTS_DIR = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

DRIVER = TESTS_DIR / 'resume_driver.py'
STEPS = 120
EVERY = 5
TRACKED = list(range(0, STEPS, EVERY))


def _trial(log_dir, observers=()):
  sub = submission.load_submission(str(TESTS_DIR / 'submissions' / 'sgd.py'))
  # Evals after step 1 and at the end only (an eval period no run reaches).
  workload = toy_workload.ToyRegressionWorkload(validation_target=-1.0, test_target=-1.0,
                                                eval_period_sec=1e9, budget_sec=1e6)
  try:
    return runner.run_trial(runner.TrialConfig(
        workload=workload, workload_name='toy', submission=sub, hyperparameters=None,
        seed=3, global_batch_size=32, eval_batch_size=64, budget_sec=1e6,
        log_dir=str(log_dir), max_global_steps=STEPS, save_checkpoints=False,
        show_progress=False, observers=observers))
  finally:
    sub.unload()


def _metric_rows(log_dir):
  rows = pd.read_csv(log_dir / 'eval_measurements.csv')
  return rows[['global_step'] + [c for c in rows if '/' in c]]


def test_full_instruments_change_nothing_in_training(tmp_path):
  plain = _trial(tmp_path / 'plain')
  settings = InstrumentSettings(quantities='full', schedule=f'linear:{EVERY}')
  watched = _trial(tmp_path / 'watched', observers=(settings,))
  for a, b in zip(np.asarray(plain.params['dense']['kernel']),
                  np.asarray(watched.params['dense']['kernel']), strict=True):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(plain.params['dense']['bias'], watched.params['dense']['bias'])
  pd.testing.assert_frame_equal(_metric_rows(tmp_path / 'plain'),
                                _metric_rows(tmp_path / 'watched'))
  record = instrument_log.load(str(tmp_path / 'watched'))
  assert record.scalars['global_step'].tolist() == TRACKED
  assert record.meta['schedule'] and 'forward_mode' in record.meta
  assert np.isfinite(record.scalars[['loss', 'grad_norm', 'hess_max_ev', 'hess_trace',
                                     'distance']]).all().all()
  assert record.histogram_steps == tuple(TRACKED)
  assert record.histograms(TRACKED[-1])['grad_hist_1d'].sum() > 0
  # The dashboard was drawn when the trial ended.
  assert (tmp_path / 'watched' / 'instrument_dashboard.png').stat().st_size > 0
  # Instrument time is not billed: the plain run's clock is the comparison.
  assert watched.submission_time < 10 * plain.submission_time + 1.0


def _driver(log_dir, mode, out, steps, instruments):
  env = dict(os.environ, RESUME_DRIVER_INSTRUMENTS=instruments)
  return subprocess.Popen([sys.executable, str(DRIVER), str(log_dir), str(steps), mode,
                           str(out)], env=env)


def test_kill_and_resume_logs_every_tracked_step_once_and_trains_the_same(tmp_path):
  steps, instruments = 400, f'economy@linear:{EVERY}'
  straight = _driver(tmp_path / 'straight', 'fresh', tmp_path / 'straight.npz', steps,
                     instruments)
  assert straight.wait(timeout=300) == 0
  killed_dir = tmp_path / 'killed'
  proc = _driver(killed_dir, 'fresh', tmp_path / 'never.npz', steps, instruments)
  deadline = time.time() + 240
  while time.time() < deadline:
    evals = killed_dir / 'eval_measurements.csv'
    if evals.exists() and len(pd.read_csv(evals)) >= 2 and \
        len(pd.read_csv(killed_dir / 'instruments.csv')) >= 10:
      break
    assert proc.poll() is None, 'the run ended before it could be killed'
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  resumed = _driver(killed_dir, 'resume', tmp_path / 'resumed.npz', steps, instruments)
  assert resumed.wait(timeout=300) == 0

  a, b = np.load(tmp_path / 'straight.npz'), np.load(tmp_path / 'resumed.npz')
  np.testing.assert_array_equal(a['kernel'], b['kernel'])
  np.testing.assert_array_equal(a['bias'], b['bias'])
  straight_rows = instrument_log.load(str(tmp_path / 'straight')).scalars
  resumed_rows = instrument_log.load(str(killed_dir)).scalars
  assert resumed_rows['global_step'].tolist() == list(range(0, steps, EVERY))
  assert set(resumed_rows['preemption_count']) == {0, 1}
  values = [c for c in straight_rows if c not in ('preemption_count',)]
  pd.testing.assert_frame_equal(straight_rows[values], resumed_rows[values])


@pytest.mark.parametrize('settings, message', [
    (InstrumentSettings(quantities='economy,grad_nrom'), "--instruments: unknown"),
    (InstrumentSettings(quantities='loss', schedule='linear:0'), '--instrument_schedule'),
    (InstrumentSettings(quantities='loss', schedule='linear:50:100'), '--instrument_schedule'),
])
def test_bad_settings_are_one_error_before_any_trial(tmp_path, settings, message):
  with pytest.raises(experiment.ExperimentError, match=message):
    experiment.ExperimentConfig(
        submission_path=str(TESTS_DIR / 'submissions' / 'sgd.py'), workload_name='toy',
        experiment_dir=str(tmp_path), experiment_name='x', tuning_ruleset='self',
        max_global_steps=20, instruments=settings)


def test_a_submission_that_donates_its_buffers_is_observed_from_copies(tmp_path):
  # The v0.6-style fixture jits its step with donate_argnums: the params a tracked step
  # starts from are deleted by the update, so the observer must have copied them.
  from algoperf import tuning
  hparams = {'learning_rate': 0.05, 'one_minus_beta1': 0.1, 'beta2': 0.999,
             'warmup_factor': 0.05, 'weight_decay': 0.0, 'label_smoothing': 0.0,
             'dropout_rate': 0.0}
  sub = submission.load_submission(str(TESTS_DIR / 'submissions' / 'algoperf_v06_style.py'))
  workload = toy_workload.ToyRegressionWorkload(validation_target=-1.0, test_target=-1.0,
                                                eval_period_sec=1e9, budget_sec=1e6)
  try:
    runner.run_trial(runner.TrialConfig(
        workload=workload, workload_name='toy', submission=sub,
        hyperparameters=tuning.hyperparameters_type(list(hparams))(**hparams), seed=0,
        global_batch_size=32, eval_batch_size=64, budget_sec=1e6, log_dir=str(tmp_path),
        max_global_steps=12, save_checkpoints=False, show_progress=False,
        observers=(InstrumentSettings(quantities='economy', schedule='linear:3',
                                      dashboard=False),)))
  finally:
    sub.unload()
  rows = instrument_log.load(str(tmp_path)).scalars
  assert rows['global_step'].tolist() == [0, 3, 6, 9]
  assert (rows['update_size'].iloc[1:] > 0).all() and (rows['distance'].iloc[1:] > 0).all()


def test_dashboard_is_redrawn_at_evals_within_its_share_of_wall_time(tmp_path, monkeypatch):
  # A fake clock: each draw takes 1 s, so the next eval that may draw is 9 s later
  # (DASHBOARD_MAX_SHARE = 0.1); the final eval always draws.
  from algoperf.instruments import dashboard
  from algoperf.instruments import observer as observer_lib
  from algoperf.observers import TrialContext
  now = [0.0]
  drawn = []

  def write(trial_dirs, output_dir, refresh_seconds=None):
    drawn.append((now[0], refresh_seconds))
    now[0] += 1.0
  monkeypatch.setattr(dashboard, 'write', write)
  monkeypatch.setattr(observer_lib.time, 'monotonic', lambda: now[0])
  workload = toy_workload.ToyRegressionWorkload()
  params, state = workload.init_model_fn(jax.random.PRNGKey(0))
  context = TrialContext(workload=workload, log_dir=str(tmp_path), seed=0,
                         preemption_count=0, resumed_at=None, initial_params=params,
                         initial_model_state=state, to_workload_form=lambda p, s: (p, s),
                         batch_to_workload_form=lambda b: b)
  observer = InstrumentSettings(quantities='loss')(context)
  observer.after_eval(0, {}, final=False)
  assert drawn == []  # nothing logged yet: no dashboard to draw
  observer._meta_written = True
  for t in (0.0, 5.0, 9.5, 11.0, 12.0):
    now[0] = t
    observer.after_eval(1, {}, final=False)
  now[0] = 13.0
  observer.after_eval(2, {}, final=True)
  assert drawn == [(0.0, 10), (11.0, 9), (13.0, None)]
