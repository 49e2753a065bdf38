"""One trial as a self-contained, picklable job: what a trial process receives and runs.

`run_job` is the whole life of a trial on the submission's side of the process boundary:
load the submission, resolve its batch sizes, build the runner's workload and the
submission's own copy, train, and say how it ended. It runs inside the trial process
(`algoperf.isolation`) or, with isolation off, in the caller's process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from typing import Any

from algoperf import fault, logs, submission, tuning

# A trial's status in trial_summary.json when it did not run to a stopping rule (the
# runner's own statuses are in algoperf.runner).
SUBMISSION_ERROR = 'error'          # the submission broke the contract or raised
CRASHED = 'crashed'                 # the trial process died (os._exit, a signal, a segfault)
WATCHDOG_TIMEOUT = 'watchdog_timeout'  # submission code overran the budget's hard limit
IO_ERROR = 'io_error'               # the runner could not write its own logs
INTERNAL_ERROR = 'internal_error'   # a fault in the runner or the workload, not the submission
# The submission time the trial recorded is below what the parent measured: results void.
CLOCK_MISMATCH = 'clock_mismatch'
FAILED_STATUSES = (SUBMISSION_ERROR, CRASHED, WATCHDOG_TIMEOUT, IO_ERROR, INTERNAL_ERROR,
                   CLOCK_MISMATCH)
# Faults of the machine or the runner, not of the submission: --resume_last_run continues
# such a trial from its last checkpoint instead of keeping the failure.
RETRIED_ON_RESUME = (IO_ERROR, INTERNAL_ERROR)


class Watch:
  """Told when submission code starts and stops running; the trial process's watchdog feed.

  `timed` intervals are the submission clock's (`billed` is its total); untimed ones are
  submission code the clock does not bill (import, batch sizes, optimizer init). The base
  class does nothing: a trial run in the caller's process has no watchdog.
  """

  def run(self, billed: float, timed: bool = False) -> None:
    """Submission code may run from now on."""

  def pause(self, billed: float, timed: bool = False) -> None:
    """No submission code runs from now on (evals, logging, set-up by the runner)."""


NO_WATCH = Watch()


@dataclasses.dataclass(frozen=True)
class TrialJob:
  """Everything one trial needs, picklable (the workload factory is pickled by reference)."""
  submission_path: str
  workload_name: str
  base_workload_name: str
  workload_factory: Callable[[], Any]
  log_dir: str
  study_index: int
  trial_index: int
  seed: int
  hyperparameters: dict[str, Any] | None
  budget_sec: float
  tuning_ruleset: str
  tuning_search_space: str | None
  data_dir: str = ''
  imagenet_v2_data_dir: str | None = None
  max_global_steps: int | None = None
  save_checkpoints: bool = True
  keep_all_checkpoints: bool = False
  resume: bool = False
  flags: dict[str, Any] = dataclasses.field(default_factory=dict)
  show_progress: bool | None = None
  skip_evals: bool = False
  stop_at_targets: bool = True
  capture_jax_trace: bool = False
  # AlgoPerf v0.5's pmap calling convention: 'auto', 'on' or 'off' (algoperf.legacy_pmap).
  legacy_pmap: str = 'auto'
  # Observer factories (algoperf/observers.py), e.g. the instruments' settings.
  observers: tuple = ()


@dataclasses.dataclass(frozen=True)
class JobResult:
  """How a trial ended: the runner's summary, or a failure status and message."""
  summary: dict[str, Any] | None
  error: str | None = None

  @property
  def status(self) -> str | None:
    return None if self.summary is None else self.summary.get('status')


def file_sha256(path: str) -> str:
  """Content hash of the submission file, recorded so a resume can refuse another file."""
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


# Next to trial_summary.json: the whole traceback of what the submission raised.
ERROR_TRACEBACK = 'error_traceback.txt'


def record_failure(log_dir: str, status: str, error: str, traceback: str | None = None,
                   **facts) -> JobResult:
  """Write the trial's summary (and the traceback, when there is one) for a trial that did
  not end by a stopping rule."""
  summary = {'status': status, 'error': error, **facts}
  if traceback:
    summary['traceback_file'] = ERROR_TRACEBACK
  try:
    if traceback:
      with open(os.path.join(log_dir, ERROR_TRACEBACK), 'w') as f:
        f.write(f'{error}\n\n{traceback}')
    logs.write_json(os.path.join(log_dir, logs.TRIAL_SUMMARY), summary)
  except OSError:  # The disk that failed the trial may still be full: report, don't raise.
    pass
  return JobResult(summary, error)


def run_job(job: TrialJob, watch: Watch = NO_WATCH) -> JobResult:
  """Train one trial; submission faults and the runner's own I/O faults become results."""
  # Deferred: the process that only plans trials never starts JAX's backends.
  import jax

  from algoperf import runner

  workload = job.workload_factory()
  # Read before any submission code runs in this process.
  terms, eval_model = runner.TrialTerms.of(workload), workload.eval_model
  sub = None
  try:
    watch.run(0.0)  # Importing the submission and asking its batch sizes run its code.
    sub = submission.load_submission(job.submission_path)
    num_devices = jax.device_count()
    batch_size = submission.resolve_batch_size(
        sub, job.workload_name, job.base_workload_name, workload.default_batch_size,
        num_devices)
    eval_batch_size = submission.resolve_eval_batch_size(
        sub, job.workload_name, workload.eval_batch_size, num_devices)
    watch.pause(0.0)
    hp = (None if job.hyperparameters is None
          else tuning.hparams_from_dict(job.hyperparameters, job.tuning_search_space))
    result = runner.run_trial(runner.TrialConfig(
        workload=workload, submission_workload=job.workload_factory(),
        workload_name=job.workload_name, submission=sub, hyperparameters=hp,
        seed=job.seed, global_batch_size=batch_size, eval_batch_size=eval_batch_size,
        budget_sec=job.budget_sec, data_dir=job.data_dir,
        imagenet_v2_data_dir=job.imagenet_v2_data_dir, log_dir=job.log_dir,
        max_global_steps=job.max_global_steps, save_checkpoints=job.save_checkpoints,
        keep_all_checkpoints=job.keep_all_checkpoints, resume=job.resume, flags=job.flags,
        show_progress=job.show_progress, watch=watch, terms=terms,
        eval_model=eval_model, skip_evals=job.skip_evals, stop_at_targets=job.stop_at_targets,
        capture_jax_trace=job.capture_jax_trace, legacy_pmap=job.legacy_pmap,
        observers=job.observers,
        facts={'study_index': job.study_index, 'trial_index': job.trial_index,
               'tuning_ruleset': job.tuning_ruleset,
               'tuning_search_space': job.tuning_search_space,
               'submission_sha256': file_sha256(sub.path)}))
  except submission.SubmissionError as e:
    return record_failure(job.log_dir, SUBMISSION_ERROR, str(e),
                          traceback=fault.full_traceback(e) if e.__cause__ else None)
  except logs.LogWriteError as e:
    return record_failure(job.log_dir, IO_ERROR, str(e))
  finally:
    if sub is not None:
      sub.unload()  # A trial run in the caller's process leaves no module to the next.
  return JobResult(result.summary())

