"""Each trial in its own process, under a watchdog: whatever a submission does ends that
trial only, and the study goes on (docs/reliability.md).

The parent (`run_isolated`) starts `python -m algoperf.isolation`, sends it the pickled
`TrialJob` on stdin and reads its events from a pipe: `run`/`pause` whenever submission
code starts or stops running, then `done` with the trial's result. From those events the
parent keeps its own count of the time submission code has had, on its own clock, and
kills the trial process (its whole process group) when that count passes the budget's hard
limit, or when the trial's wall time passes a limit no event can move. A trial process that
ends without `done` (os._exit, a signal, a segfault) is recorded as crashed, with why.

The trial process ignores SIGINT, so a KeyboardInterrupt there can only come from code; a
Ctrl-C reaches the parent, which kills the trial process and re-raises. The trial process
dies with its parent (PR_SET_PDEATHSIG, or a thread watching the parent's pid elsewhere),
so a killed study never leaves a trial writing into logs a resume will read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from algoperf import submission, trial_job

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WatchdogLimits:
  """When the parent ends a trial that does not end by itself.

  Submission code (timed or not: import, batch sizes, optimizer init, steps,
  prepare_for_eval) may run for `budget * (1 + margin_fraction) + margin_sec` in all; the
  margin covers a last step that starts just before the budget runs out. The whole trial
  process may live `budget * wall_factor + wall_sec` of wall time (evals, logging and
  checkpoints included), whatever its events say.
  """
  margin_fraction: float = 0.1
  margin_sec: float = 60.0
  wall_factor: float = 4.0
  wall_sec: float = 1800.0

  def submission_limit(self, budget_sec: float) -> float:
    return budget_sec * (1.0 + self.margin_fraction) + self.margin_sec

  def wall_limit(self, budget_sec: float) -> float:
    return budget_sec * self.wall_factor + self.wall_sec


class _EventPipe(trial_job.Watch):
  """The trial process's side: JSON lines to the parent, one write each."""

  def __init__(self, fd: int):
    self._fd = fd

  def send(self, event: dict[str, Any]) -> None:
    data = (json.dumps(event) + '\n').encode()
    while data:
      data = data[os.write(self._fd, data):]

  def run(self, billed: float, timed: bool = False) -> None:
    self.send({'event': 'run', 'billed': billed, 'timed': timed})

  def pause(self, billed: float, timed: bool = False) -> None:
    self.send({'event': 'pause', 'billed': billed, 'timed': timed})


class _WatchedTime:
  """The parent's own count, on its own clock, of the time submission code has had (all of
  it, for the watchdog; the clock's intervals alone, to check the time the trial records)."""

  def __init__(self):
    self.total = 0.0
    self.timed = 0.0
    self.billed = 0.0                      # the trial's own clock, as last reported
    self.first_billed: float | None = None  # ... when this attempt's clock first started
    self._since: float | None = None
    self._since_timed = False

  def apply(self, event: dict[str, Any], now: float) -> None:
    kind = event.get('event')
    if kind not in ('run', 'pause'):
      return
    if self._since is not None:
      self.total += now - self._since
      if self._since_timed:
        self.timed += now - self._since
    billed = float(event.get('billed') or 0.0)
    timed = bool(event.get('timed'))
    if timed:
      self.billed = billed
      if self.first_billed is None:
        self.first_billed = billed
    self.total = max(self.total, billed)
    self._since = now if kind == 'run' else None
    self._since_timed = timed

  def now(self, now: float) -> float:
    return self.total + (now - self._since if self._since is not None else 0.0)

  def clock_mismatch(self, recorded: float | None, tolerance: ClockTolerance) -> str | None:
    """Why the submission time the trial recorded cannot be right, or None if it can."""
    if recorded is None or self.first_billed is None:
      return None
    claimed = recorded - self.first_billed
    if claimed >= self.timed * (1.0 - tolerance.fraction) - tolerance.seconds:
      return None
    return (f'the trial recorded {claimed:.2f} s of submission time for this attempt, but '
            f'the parent process measured {self.timed:.2f} s while the submission clock ran; '
            'something in the trial process changed the clock, so its results are void')


@dataclasses.dataclass(frozen=True)
class ClockTolerance:
  """How far below the parent's measure a trial's recorded submission time may fall (the
  parent times the clock's intervals from events that reach it a little late)."""
  fraction: float = 0.05
  seconds: float = 1.0


@dataclasses.dataclass(frozen=True)
class SubmissionCheck:
  """A task for a process of its own: load a submission and check it, nothing more."""
  submission_path: str

  def run(self, events: _EventPipe) -> dict[str, Any]:
    events.run(0.0)
    try:
      submission.load_submission(self.submission_path)
    except submission.SubmissionError as e:
      return {'summary': {}, 'error': str(e)}
    return {'summary': {}, 'error': None}


@dataclasses.dataclass
class _ProcessEnd:
  done: dict[str, Any] | None  # the process's last word, if it got to say it
  killed_for: str | None       # why the watchdog killed it, if it did
  returncode: int
  watched: _WatchedTime        # the parent's own measure of the submission's time


def run_isolated(job: trial_job.TrialJob, limits: WatchdogLimits = WatchdogLimits()
                 ) -> trial_job.JobResult:
  """Run `job` in a new process; return its result, or why the process did not give one."""
  end = _run_in_process(job, job.budget_sec, limits)
  if end.done is not None and end.done.get('summary') is not None:
    summary = end.done['summary']
    mismatch = end.watched.clock_mismatch(summary.get('submission_time'), ClockTolerance())
    if mismatch is not None:
      return trial_job.record_failure(job.log_dir, trial_job.CLOCK_MISMATCH, mismatch,
                                      recorded=summary, measured_submission_time=(
                                          end.watched.first_billed + end.watched.timed))
    return trial_job.JobResult(summary, end.done.get('error'))
  if end.done is not None:
    return trial_job.record_failure(job.log_dir, trial_job.INTERNAL_ERROR,
                                    end.done.get('error'))
  facts = {'submission_time': end.watched.billed, 'exit_code': end.returncode}
  if end.killed_for is not None:
    return trial_job.record_failure(job.log_dir, trial_job.WATCHDOG_TIMEOUT, end.killed_for,
                                    **facts)
  return trial_job.record_failure(job.log_dir, trial_job.CRASHED,
                                  crash_message(job.submission_path, end.returncode), **facts)


def check_in_process_of_its_own(submission_path: str,
                                limits: WatchdogLimits = WatchdogLimits()) -> str | None:
  """Load and check a submission in a new process; the error message, or None if it passed."""
  end = _run_in_process(SubmissionCheck(os.path.abspath(submission_path)), 0.0, limits)
  if end.done is not None:
    return end.done.get('error')
  if end.killed_for is not None:
    return f'{submission_path}: loading the submission did not finish: {end.killed_for}'
  return crash_message(submission_path, end.returncode).replace(
      'before the trial finished', 'while the submission was loaded')


def _child_environment() -> dict[str, str]:
  """This environment, with this copy of algoperf first on PYTHONPATH: the trial process
  must import the same code as its parent, also when the parent found it only through its
  script's folder (`python /path/to/submission_runner.py` run elsewhere, not installed)."""
  import algoperf
  project_root = os.path.dirname(os.path.dirname(os.path.abspath(algoperf.__file__)))
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join(
      [project_root] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
  return env


def _run_in_process(task, budget_sec: float, limits: WatchdogLimits) -> _ProcessEnd:
  """Run `task.run(events)` in a new process under the watchdog; how the process ended."""
  try:
    payload = pickle.dumps((list(sys.path), pickle.dumps(task),
                            logging.getLogger('algoperf').getEffectiveLevel()))
  except (pickle.PicklingError, AttributeError, TypeError) as e:
    raise ValueError(
        'a trial process needs a picklable workload factory (a workload class or a '
        f'functools.partial of a module-level function), not '
        f'{getattr(task, "workload_factory", task)!r}: {e}') from e
  read_fd, write_fd = os.pipe()
  proc = subprocess.Popen(
      [sys.executable, '-m', 'algoperf.isolation', str(write_fd), str(os.getpid())],
      stdin=subprocess.PIPE, pass_fds=(write_fd,), start_new_session=True,
      env=_child_environment())
  os.close(write_fd)
  try:
    proc.stdin.write(payload)
    proc.stdin.close()
  except BrokenPipeError:
    pass  # The process died at once; its exit status says why.
  try:
    done, killed_for, watched = _watch(proc, read_fd, budget_sec, limits)
  finally:
    os.close(read_fd)
    if proc.poll() is None:  # Ctrl-C or an error in this process: the trial must not go on.
      _kill_group(proc)
  return _ProcessEnd(done, killed_for, proc.returncode, watched)


def _watch(proc, read_fd: int, budget_sec: float, limits: WatchdogLimits):
  """Read events until the process exits; kill it when a limit passes."""
  start = time.monotonic()
  watched = _WatchedTime()
  buffer, done, killed_for, eof = b'', None, None, False
  submission_limit, wall_limit = limits.submission_limit(budget_sec), limits.wall_limit(
      budget_sec)
  while True:
    if not eof:
      ready, _, _ = select.select([read_fd], [], [], 0.25)
      if ready:
        chunk = os.read(read_fd, 1 << 16)
        eof = not chunk
        buffer += chunk
        *lines, buffer = buffer.split(b'\n')
        for line in lines:
          event = _parse(line)
          if event.get('event') == 'done':
            done = event
          watched.apply(event, time.monotonic())
    elif proc.poll() is None:
      time.sleep(0.25)
    if proc.poll() is not None and (eof or done is not None):
      return done, killed_for, watched
    if done is not None or killed_for is not None:
      continue  # Finished (or already killed): wait for the process to go.
    now = time.monotonic()
    if watched.now(now) > submission_limit:
      killed_for = (f'the submission\'s code ran {watched.now(now):.0f} s, past the '
                    f'watchdog limit of {submission_limit:.0f} s (budget {budget_sec:g} s '
                    f'+ {limits.margin_fraction:.0%} + {limits.margin_sec:g} s); the trial '
                    'process was killed (a step that never returns?)')
    elif now - start > wall_limit:
      killed_for = (f'the trial process ran {now - start:.0f} s of wall time, past the '
                    f'limit of {wall_limit:.0f} s ({limits.wall_factor:g} x budget + '
                    f'{limits.wall_sec:g} s); it was killed')
    if killed_for is not None:
      logger.warning('%s', killed_for)
      _kill_group(proc)


def _parse(line: bytes) -> dict[str, Any]:
  try:
    event = json.loads(line)
  except ValueError:
    return {}
  return event if isinstance(event, dict) else {}


def _kill_group(proc) -> None:
  """SIGKILL the trial process and anything it started (its own session)."""
  try:
    os.killpg(proc.pid, signal.SIGKILL)
  except (ProcessLookupError, PermissionError):
    proc.kill()
  proc.wait()


def crash_message(submission_path: str, returncode: int) -> str:
  """Why a trial process ended without a result, in words."""
  if returncode < 0:
    try:
      name = signal.Signals(-returncode).name
    except ValueError:
      name = f'signal {-returncode}'
    native = (' (a crash in native code, e.g. through ctypes or a C extension)'
              if -returncode in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE,
                                 signal.SIGABRT) else '')
    return (f'{submission_path}: the trial process was killed by {name}{native} before '
            'the trial finished')
  return (f'{submission_path}: the trial process exited with code {returncode} before the '
          'trial finished; a submission must not end the process (os._exit, or sys.exit '
          'outside its functions)')


# --- the trial process --------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
  """Linux: the kernel kills us when the parent dies; elsewhere a thread watches its pid."""
  try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
      raise OSError(ctypes.get_errno(), 'prctl')
  except (OSError, AttributeError):
    def watch_parent():
      while os.getppid() == parent_pid:
        time.sleep(0.5)
      os._exit(1)
    threading.Thread(target=watch_parent, daemon=True).start()
  if os.getppid() != parent_pid:  # The parent died before the request took effect.
    os._exit(1)


def _trial_process_main(event_fd: int, parent_pid: int) -> None:
  _die_with_parent(parent_pid)
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  import faulthandler
  faulthandler.enable()  # A segfault prints where it happened to stderr.
  events = _EventPipe(event_fd)
  sys_path, job_bytes, log_level = pickle.load(sys.stdin.buffer)
  sys.path[:] = sys_path
  logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s',
                      force=True)
  logging.getLogger('algoperf').setLevel(log_level)
  try:
    task = pickle.loads(job_bytes)
    if isinstance(task, trial_job.TrialJob):
      result = trial_job.run_job(task, events)
      done = {'event': 'done', 'summary': result.summary, 'error': result.error}
    else:
      done = {'event': 'done', **task.run(events)}
  except Exception as e:  # A fault of the runner or the workload: say so, with the trace.
    import traceback
    logger.error('internal error in the trial process:\n%s', traceback.format_exc())
    done = {'event': 'done', 'summary': None, 'error': (
        f'internal error (runner or workload, not the submission): {type(e).__name__}: {e}')}
  events.send(done)
  sys.stdout.flush()
  sys.stderr.flush()
  # Not sys.exit: threads or atexit hooks a submission left behind must not hold the exit.
  os._exit(0)


if __name__ == '__main__':
  _trial_process_main(int(sys.argv[1]), int(sys.argv[2]))
