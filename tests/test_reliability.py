"""Hostile and broken submissions end their own trial only, with a recorded status, and
change nothing the runner records (docs/reliability.md).

The catalogue: each file under tests/submissions/malformed/hostile_*.py misbehaves in one
way; CATALOGUE says how its trial must end. Every case runs as a user's study does: each
trial in its own process, under the watchdog.
"""

import csv
import functools
import os
import pathlib
import subprocess
import sys

import pytest

from algoperf import experiment, isolation, trial_job

TESTS_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

MALFORMED = TESTS_DIR / 'submissions' / 'malformed'
ROOT = TESTS_DIR.parent

# file -> (trial status, a fragment of the recorded error message or None)
CATALOGUE = {
    'hostile_sys_exit': (trial_job.SUBMISSION_ERROR, 'raised SystemExit at step 2'),
    'hostile_raise_system_exit': (trial_job.SUBMISSION_ERROR, 'raised SystemExit at step 2'),
    'hostile_keyboard_interrupt': (trial_job.SUBMISSION_ERROR,
                                   'raised KeyboardInterrupt at step 2'),
    'hostile_os_exit': (trial_job.CRASHED, 'exited with code 0'),
    'hostile_segfault': (trial_job.CRASHED, 'killed by SIGSEGV'),
    'hostile_infinite_loop': (trial_job.WATCHDOG_TIMEOUT, 'past the watchdog limit'),
    'hostile_forge_eval_row': (trial_job.SUBMISSION_ERROR, 'eval rows belong to the runner'),
    'hostile_forge_score': (trial_job.SUBMISSION_ERROR, "'score'"),
    'hostile_held_out_data': (trial_job.SUBMISSION_ERROR, 'not available to submissions'),
    'hostile_rewrite_workload': ('max_global_steps', None),
    'hostile_zero_clock': (trial_job.CLOCK_MISMATCH, 'changed the clock'),
}
# Steps per case: enough for each misbehaviour to happen; the clock case needs a long run.
STEPS = {'hostile_zero_clock': 300}
BUDGET_SEC = 2.0
EVAL_PERIOD_SEC = 1.0


def _study(tmp_path, name, num_trials=1, max_steps=6, margin_sec=2.0):
  space = tmp_path / 'space.json'
  space.write_text('[' + ', '.join(['{"learning_rate": 0.1}'] * num_trials) + ']')
  config = experiment.ExperimentConfig(
      submission_path=str(MALFORMED / f'{name}.py'), workload_name='toy',
      experiment_dir=str(tmp_path), experiment_name=name, tuning_search_space=str(space),
      num_tuning_trials=num_trials, rng_seed=0, max_global_steps=max_steps,
      save_checkpoints=False, show_progress=False,
      watchdog=isolation.WatchdogLimits(margin_fraction=0.0, margin_sec=margin_sec))
  factory = functools.partial(
      toy_workload.ToyRegressionWorkload, validation_target=-1.0, test_target=-1.0,
      budget_sec=BUDGET_SEC if name == 'hostile_infinite_loop' else 1e6,
      eval_period_sec=EVAL_PERIOD_SEC)
  return experiment.run_experiment(config, factory, 'toy')


def _eval_rows(log_dir):
  path = os.path.join(log_dir, 'eval_measurements.csv')
  if not os.path.exists(path):
    return []
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


@pytest.mark.parametrize('name', sorted(CATALOGUE))
def test_hostile_submission_ends_its_trial_with_the_expected_status(tmp_path, name):
  status, fragment = CATALOGUE[name]
  [outcome] = _study(tmp_path, name, max_steps=STEPS.get(name, 6))
  summary = trial_job_summary(outcome.log_dir)
  assert summary['status'] == status, summary
  assert outcome.summary['status'] == status
  if fragment is None:
    assert outcome.error is None
  else:
    assert fragment in outcome.error, outcome.error
    assert summary['error'] == outcome.error
  for row in _eval_rows(outcome.log_dir):  # Only the runner's rows, with its own times.
    assert row['score'] == row['accumulated_submission_time']
    assert float(row['validation/loss']) > 0.0  # The toy's loss; no forged 0.0 or -5.0.


def trial_job_summary(log_dir):
  from algoperf import logs
  return logs.read_json(os.path.join(log_dir, logs.TRIAL_SUMMARY))


def test_rewriting_the_workload_changes_nothing_recorded(tmp_path):
  """eval_model, targets, budget and eval period replaced on the view and on the class:
  the runner still evaluates with the real model, every eval period (not every step)."""
  [outcome] = _study(tmp_path, 'hostile_rewrite_workload', max_steps=6)
  rows = _eval_rows(outcome.log_dir)
  assert [int(r['global_step']) for r in rows] == [1, 6]  # after step 1, and at the end
  assert not outcome.summary['validation_target_reached']
  meta = trial_job_summary(outcome.log_dir)
  assert meta['status'] == 'max_global_steps'


def test_changes_never_leak_into_the_next_trial(tmp_path):
  outcomes = _study(tmp_path, 'hostile_leak_into_next_trial', num_trials=2)
  assert [o.error for o in outcomes] == [None, None]
  assert [o.summary['status'] for o in outcomes] == ['max_global_steps'] * 2


def test_a_crashing_trial_does_not_end_the_study_and_the_exit_code_says_so(tmp_path):
  """The CLI: both trials crash, both are recorded, the study reports them and exits 1."""
  space = tmp_path / 'space.json'
  space.write_text('[{"learning_rate": 0.1}, {"learning_rate": 0.2}]')
  proc = subprocess.run(
      [sys.executable, 'submission_runner.py', '--workload=mnist1d',
       f'--submission_path={MALFORMED / "hostile_os_exit.py"}',
       f'--tuning_search_space={space}', '--num_tuning_trials=2', '--rng_seed=0',
       f'--experiment_dir={tmp_path}', '--experiment_name=crash', '--progress=off'],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 1, proc.stderr
  assert 'study 0 trial 1: FAILED (crashed)' in proc.stdout
  assert 'study 0 trial 2: FAILED (crashed)' in proc.stdout
  assert '2 trial(s) FAILED: trial 1 (crashed), trial 2 (crashed)' in proc.stdout


def test_exit_at_import_is_a_submission_error_not_the_end_of_the_study(tmp_path):
  path = tmp_path / 'exits_at_import.py'
  path.write_text('import os\nos._exit(0)\n')
  with pytest.raises(experiment.submission.SubmissionError, match='exited with code 0'):
    experiment.check_submission(str(path))


def test_disk_full_is_the_machines_fault_and_resume_continues(tmp_path, monkeypatch):
  """An OSError from the runner's own writing (here: the third checkpoint) ends the trial as
  `io_error`, blaming the machine, not the submission; resuming after that continues."""
  import errno

  from algoperf import checkpoint
  save, calls = checkpoint.save, []

  def full_disk_once(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:
      raise OSError(errno.ENOSPC, 'No space left on device')
    return save(*args, **kwargs)

  monkeypatch.setattr(checkpoint, 'save', full_disk_once)
  space = tmp_path / 'space.json'
  space.write_text('[{"learning_rate": 0.1}]')
  values = dict(submission_path=str(TESTS_DIR / 'submissions' / 'sgd.py'),
                workload_name='toy', experiment_dir=str(tmp_path), experiment_name='full',
                tuning_search_space=str(space), rng_seed=0, max_global_steps=40,
                show_progress=False, isolate_trials=False)
  factory = functools.partial(toy_workload.ToyRegressionWorkload, validation_target=-1.0,
                              test_target=-1.0, eval_period_sec=0.0)
  [outcome] = experiment.run_experiment(experiment.ExperimentConfig(**values), factory, 'toy')
  assert outcome.summary['status'] == trial_job.IO_ERROR
  assert 'No space left on device' in outcome.error
  assert 'not of the submission' in outcome.error
  assert not [p for p in os.listdir(outcome.log_dir) if p.endswith('.tmp')]
  rows = _eval_rows(outcome.log_dir)
  assert [int(r['global_step']) for r in rows] == [1, 2, 3]  # the third row, then no space

  monkeypatch.setattr(checkpoint, 'save', save)  # space freed
  [resumed] = experiment.run_experiment(
      experiment.ExperimentConfig(**{**values, 'resume_last_run': True}), factory, 'toy')
  assert resumed.error is None and resumed.summary['status'] == 'max_global_steps'
  assert resumed.summary['global_step'] == 40 and resumed.summary['preemption_count'] == 1
  steps = [int(r['global_step']) for r in _eval_rows(outcome.log_dir)]
  assert steps == list(range(1, 41))  # step 3 redone from the step-2 checkpoint, once


def test_the_static_check_warns_by_default_and_refuses_under_strict(caplog):
  path = str(MALFORMED / 'hostile_zero_clock.py')
  with caplog.at_level('WARNING', logger='algoperf'):
    experiment.report_compliance(path, strict=False)
  assert any('introspection' in r.getMessage() and 'gc' in r.getMessage()
             for r in caplog.records), [r.getMessage() for r in caplog.records]
  with pytest.raises(experiment.submission.SubmissionError, match='refused under --strict'):
    experiment.report_compliance(path, strict=True)
  experiment.report_compliance(str(TESTS_DIR / 'submissions' / 'sgd.py'), strict=True)
