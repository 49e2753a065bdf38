"""Runs one toy trial in its own process, so a test can SIGKILL it mid-training.

With RESUME_DRIVER_INSTRUMENTS set (`<quantities>@<schedule>`), the trial runs with
instruments. Modes: `fresh`, `resume`, and two that kill the process at an exact point, as a preemption
there would: `kill_after_final_checkpoint` (the trial's last checkpoint is written, its
trial_summary.json is not) and `kill_before_first_checkpoint` (the first eval row is
written, no checkpoint is).
"""

import os
import signal
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import toy_workload  # noqa: E402

from algoperf import checkpoint, runner, submission  # noqa: E402


def _kill_self():
  os.kill(os.getpid(), signal.SIGKILL)


def _patch_checkpoint_save(mode):
  save = checkpoint.save

  def patched(trial_dir, state, keep_all=False):
    if mode == 'kill_before_first_checkpoint':
      _kill_self()
    save(trial_dir, state, keep_all)
    if mode == 'kill_after_final_checkpoint' and state.status is not None:
      _kill_self()
  checkpoint.save = patched


def _instruments():
  """RESUME_DRIVER_INSTRUMENTS=<quantities>@<schedule> instruments the trial."""
  spec = os.environ.get('RESUME_DRIVER_INSTRUMENTS')
  if not spec:
    return ()
  from algoperf.instruments.observer import InstrumentSettings
  quantities, schedule = spec.split('@')
  return (InstrumentSettings(quantities=quantities, schedule=schedule, dashboard=False),)


def main(log_dir, max_steps, mode, params_out):
  if mode.startswith('kill_'):
    _patch_checkpoint_save(mode)
  resume = mode == 'resume'
  workload = toy_workload.ToyRegressionWorkload(
      validation_target=-1.0, test_target=-1.0, eval_period_sec=0.1, budget_sec=1e6)
  sub = submission.load_submission(os.path.join(os.path.dirname(__file__), 'submissions',
                                                'sgd.py'))
  result = runner.run_trial(runner.TrialConfig(
      workload=workload, workload_name='toy', submission=sub, hyperparameters=None, seed=11,
      global_batch_size=32, eval_batch_size=64, budget_sec=1e6, log_dir=log_dir,
      max_global_steps=max_steps, resume=resume, show_progress=False,
      observers=_instruments()))
  np.savez(params_out, **{'kernel': np.asarray(result.params['dense']['kernel']),
                          'bias': np.asarray(result.params['dense']['bias']),
                          'step': result.global_step})


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
