"""One trial: a submission trained on a workload under the submission clock (docs/runner_rules.md rules 1-8).

`run_trial` is a plain function of its inputs: set-up (untimed), the timed loop, untimed
evaluations, logs and checkpoints; `_Trial` holds the running state and reads top to bottom
from flags to CSV row. Observers (algoperf/observers.py: instruments, diagnostics) look
inside chosen steps with the clock stopped. The per-step hot path is: keys for the step,
`data_selection`, `update_params`,
the input queue's prefetch of the next batch (while the device computes), one device
sync, one clock read and a few comparisons. Away from any deadline the sync waits for the
previous step rather than this one (`clock.StepSync`), so the host prepares step j+1
while the device runs step j.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
import re
import time
import types
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import checkpoint, fault, legacy_pmap, logs, progress, spec, tuning, workload_view
from algoperf import ensemble as ensemble_lib
from algoperf.budget import within_budget
from algoperf.clock import StepSync, Stopwatch, SubmissionClock, ready_token
from algoperf.observers import ObserverFactory, TrialContext, TrialObserver
from algoperf.submission import Submission, SubmissionError, is_users_interrupt
from algoperf.terms import TrialTerms
from algoperf.trace import StepTrace
from algoperf.trial_job import NO_WATCH, Watch

logger = logging.getLogger(__name__)

# Why a trial stopped; also its status in trial_summary.json.
TARGETS_REACHED = 'targets_reached'
BUDGET_EXHAUSTED = 'budget_exhausted'
TRAINING_COMPLETE = 'training_complete'
MAX_STEPS = 'max_global_steps'
DIVERGED = 'diverged'


@dataclasses.dataclass(frozen=True)
class TrialConfig:
  """Everything one trial depends on."""
  workload: spec.Workload
  workload_name: str
  submission: Submission
  hyperparameters: Any
  seed: int
  global_batch_size: int
  eval_batch_size: int
  budget_sec: float
  data_dir: str = ''
  imagenet_v2_data_dir: str | None = None
  log_dir: str | None = None
  max_global_steps: int | None = None
  save_checkpoints: bool = True
  keep_all_checkpoints: bool = False
  resume: bool = False
  flags: dict[str, Any] = dataclasses.field(default_factory=dict)
  facts: dict[str, Any] = dataclasses.field(default_factory=dict)
  show_progress: bool | None = None
  # False trains to the budget even after the targets are met (calibration, learning curves).
  stop_at_targets: bool = True
  # A second instance of the workload, the submission's own: what the submission does to it
  # cannot reach the instance the runner evaluates and keeps time with. None: the submission
  # sees `workload` through the same view.
  submission_workload: spec.Workload | None = None
  # Told when submission code starts and stops running (the trial process's watchdog).
  watch: Watch = NO_WATCH
  # Target, direction and eval period, read before any submission code ran; None reads
  # them from `workload` when the trial starts.
  terms: TrialTerms | None = None
  # `workload.eval_model`, bound before any submission code ran (so a patch of the
  # workload's class cannot replace it); None binds it when the trial starts.
  eval_model: Any = None
  # AlgoPerf's --skip_evals: no eval until the trial ends.
  skip_evals: bool = False
  # AlgoPerf's --capture_jax_trace: a profiler trace of a few steps in the trial folder.
  capture_jax_trace: bool = False
  # AlgoPerf v0.5's pmap calling convention (replicated state, per-device batches):
  # 'auto' (read from the submission's source), 'on' or 'off' (algoperf/legacy_pmap.py).
  legacy_pmap: str = 'auto'
  # Factories of observers that look inside steps off the clock (algoperf/observers.py):
  # instruments, diagnostics. Picklable, so a trial process can build them.
  observers: tuple[ObserverFactory, ...] = ()


@dataclasses.dataclass
class TrialResult:
  """How a trial ended; `params` is the final (prepared-for-eval) state, for callers."""
  status: str
  global_step: int
  submission_time: float
  eval_time: float
  logging_time: float
  validation_target_reached: bool
  test_target_reached: bool
  time_to_validation_target: float | None
  time_to_test_target: float | None
  eval_results: list
  preemption_count: int
  params: Any = None
  optimizer_state: Any = None
  model_state: Any = None
  # The ensemble the last eval evaluated, when `prepare_for_eval` returned one
  # (docs/ensembles.md); `params` are then the training params.
  ensemble: Any = None

  def summary(self) -> dict[str, Any]:
    skip = {'params', 'optimizer_state', 'model_state', 'eval_results', 'ensemble'}
    # Not dataclasses.asdict: it deep-copies the skipped states too, and older JAX (the
    # pinned sets of docs/environments.md) cannot copy a jitted function's Device.
    out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
           if f.name not in skip}
    out['num_evals'] = len(self.eval_results)
    if self.ensemble is not None:
      out[logs.ENSEMBLE_MEMBERS] = self.ensemble.num_members
    return out


class StepKeys:
  """Per-step keys `split(fold_in(trial_key, step), 3)`, computed a block of steps at a time.

  One vectorised call per block replaces two dispatches per step; the values are exactly
  those of the per-step computation (a test checks this).
  """

  def __init__(self, trial_key, block: int = 1024):
    self._trial_key = trial_key
    self._block = block
    self._first = -1
    self._keys = None

  def __call__(self, step: int):
    offset = step - self._first
    if self._keys is None or not 0 <= offset < self._block:
      self._first, offset = step, 0
      self._keys = np.asarray(_step_keys_block(self._trial_key, step, self._block))
    return self._keys[offset]


@functools.partial(jax.jit, static_argnums=2)
def _step_keys_block(trial_key, first_step, block):
  steps = first_step + jnp.arange(block)
  return jax.vmap(lambda s: jax.random.split(jax.random.fold_in(trial_key, s), 3))(steps)


class _CountingIterator(Iterator):
  """Gives a position to input queues that have none, for checkpoints."""

  def __init__(self, iterator):
    self._iterator = iterator
    self.position = 0

  def __next__(self):
    self.position += 1
    return next(self._iterator)

  def get_state(self):
    return {'batches_consumed': self.position}

  def set_state(self, state):
    for _ in range(state['batches_consumed'] - self.position):
      next(self)


def _resumable(queue):
  return queue if hasattr(queue, 'get_state') and hasattr(queue, 'set_state') \
      else _CountingIterator(iter(queue))


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _fresh_train_state() -> dict[str, Any]:
  # AlgoPerf's keys (docs/runner_rules.md lists what each holds and when it changes), plus
  # when the last eval happened on the submission clock and the times to target.
  return {
      'validation_goal_reached': False,
      'test_goal_reached': False,
      'is_time_remaining': True,
      'last_eval_time': 0.0,
      'training_complete': False,
      'accumulated_submission_time': 0.0,
      'accumulated_eval_time': 0.0,
      'accumulated_logging_time': 0.0,
      'last_step_end_time': None,
      'last_eval_submission_time': 0.0,
      'total_duration': 0.0,
      'time_to_validation_target': None,
      'time_to_test_target': None,
  }


def _check_update_return(submission: Submission, result, reference_structure, step: int,
                         function: str = 'update_params'):
  if not isinstance(result, (tuple, list)) or len(result) != 3:
    raise submission.error(
        function, f'must return (optimizer_state, params, model_state); at step {step} '
        f'it returned {type(result).__name__}'
        + (f' of length {len(result)}' if isinstance(result, (tuple, list)) else '') + '.')
  params = result[1]
  structure = jax.tree.structure(params)
  if structure != reference_structure[0]:
    raise submission.error(
        function, f'returned params whose tree structure differs from the workload\'s at '
        f'step {step}: {structure} vs {reference_structure[0]}.')
  shapes = [getattr(x, 'shape', None) for x in jax.tree.leaves(params)]
  if shapes != reference_structure[1]:
    raise submission.error(function, f'returned params with changed shapes at step {step}.'
                           + legacy_pmap.shape_mismatch_hint(shapes, reference_structure[1]))
  return tuple(result)


def _call_submission(submission: Submission, function: str, step: int, fn, *args, **kwargs):
  """Run a submission function; whatever it raises becomes one error naming file and step.

  That includes SystemExit and, where SIGINT is ignored (the trial process: a Ctrl-C goes
  to the parent), KeyboardInterrupt: a submission cannot end the trial by raising them.
  """
  try:
    return fn(*args, **kwargs)
  except (spec.TrainingCompleteError, SubmissionError, logs.LogWriteError):
    raise
  except BaseException as e:
    if is_users_interrupt(e):
      raise  # The user's Ctrl-C, in a trial run in the caller's process.
    rule = ('; a submission must not end or interrupt the process'
            if isinstance(e, SystemExit | KeyboardInterrupt) else '')
    raise submission.error(
        function, f'raised {type(e).__name__} at step {step}: {e}{rule}'
        f'{fault.describe(e, submission.root)}{legacy_pmap.notes(e)}') from e


@dataclasses.dataclass
class _TrialStart:
  """Where a trial's loop starts: fresh, or restored from its latest checkpoint."""
  params: Any
  model_state: Any
  optimizer_state: Any
  input_queue: Any
  train_state: dict[str, Any]
  eval_results: list
  global_step: int = 0
  preemption_count: int = 0
  restored: bool = False
  status: str | None = None  # set when the checkpoint is the final one of an ended trial
  # What `init_model_fn` gave, in the submission's form (the params a fresh start trains).
  initial_params: Any = None
  initial_model_state: Any = None


def _trial_keys(seed: int):
  """(data, optimizer init, model init, per-step) keys of a trial (rule 5)."""
  return jax.random.split(jax.random.PRNGKey(seed), 4)


def _set_up(config: TrialConfig, view,
            convention: legacy_pmap.Convention = legacy_pmap.DEFAULT) -> _TrialStart:
  """Untimed set-up (rule 1): input queue, model, optimizer state, checkpoint restore.

  Params, model state and train batches are in the submission's calling convention's form
  from here on (the identity but in legacy pmap mode)."""
  workload, submission, hp = config.workload, config.submission, config.hyperparameters
  data_rng, opt_init_rng, model_init_rng, _ = _trial_keys(config.seed)
  input_queue = convention.input_queue(_resumable(workload._build_input_queue(
      data_rng, 'train', data_dir=config.data_dir, global_batch_size=config.global_batch_size)))
  params, model_state = workload.init_model_fn(
      model_init_rng, getattr(hp, 'dropout_rate', None), getattr(hp, 'aux_dropout_rate', None))
  if config.submission_workload is not None:
    workload_view.init_submission_model(
        workload, config.submission_workload, model_init_rng,
        getattr(hp, 'dropout_rate', None), getattr(hp, 'aux_dropout_rate', None))
  params, model_state = convention.to_submission(params, model_state)
  config.watch.run(0.0)  # Untimed, but submission code: the watchdog counts it.
  optimizer_state = _call_submission(
      submission, 'init_optimizer_state', 0, submission.init_optimizer_state,
      view, params, model_state, hp, opt_init_rng)
  config.watch.pause(0.0)
  start = _TrialStart(params, model_state, optimizer_state, input_queue,
                      _fresh_train_state(), [], initial_params=params,
                      initial_model_state=model_state)
  if config.log_dir is None:
    return start
  if config.resume and checkpoint.latest_step(config.log_dir) is not None:
    restored = checkpoint.restore(config.log_dir, checkpoint.TrialState(
        params, model_state, optimizer_state, 0, 0, start.train_state, [], None))
    start.params, start.model_state = restored.params, restored.model_state
    start.optimizer_state = restored.optimizer_state
    start.global_step, start.eval_results = restored.global_step, restored.eval_results
    start.train_state.update(restored.train_state)
    start.preemption_count = restored.preemption_count + 1
    start.restored, start.status = True, restored.status
    if restored.input_queue_state is not None:
      input_queue.set_state(restored.input_queue_state)
    logger.info('Resumed %s at step %d (preemption %d)%s.', config.log_dir, start.global_step,
                start.preemption_count,
                f'; it had ended ({start.status})' if start.status else '')
  else:
    # No checkpoint: an earlier attempt (if any) is redone from step 0 under a new
    # preemption count, so its meta data stays and none of its rows is kept twice.
    start.preemption_count = _next_preemption_count(config.log_dir)
  return start


def _next_preemption_count(log_dir: str) -> int:
  """One past the highest meta_data_<p>.json already in the trial folder (0 when none)."""
  counts = [int(m.group(1)) for name in (os.listdir(log_dir) if os.path.isdir(log_dir) else ())
            if (m := re.fullmatch(r'meta_data_(\d+)\.json', name))]
  return max(counts, default=-1) + 1


def _open_logs(config: TrialConfig, start: _TrialStart, metrics_logger,
               terms: TrialTerms) -> None:
  """Drop the rows a resumed run will redo, and write this attempt's files."""
  if metrics_logger is None:
    return
  with _runner_io('its logs', config.log_dir):
    metrics_logger.drop_rows_after_step(start.global_step if start.restored else -1)
    _write_trial_files(config, start.preemption_count, terms)


@contextlib.contextmanager
def _runner_io(what: str, log_dir: str | None):
  """The runner's own writes: an OSError there is a machine fault, never the submission's."""
  try:
    yield
  except logs.LogWriteError:
    raise
  except OSError as e:
    raise logs.LogWriteError(
        e.errno, f'the runner could not write {what} in {log_dir}: {e.strerror or e} '
        f'({type(e).__name__}); the trial stopped. This is an I/O fault of the machine, '
        'not of the submission: free space (or fix permissions) and rerun with '
        '--resume_last_run to continue', getattr(e, 'filename', None)) from e


def run_trial(config: TrialConfig) -> TrialResult:
  """Train `config.submission` on `config.workload` until a stopping rule fires."""
  trial = _Trial(config)
  while trial.status is None:
    trial.step()
    if trial.eval_due():
      trial.evaluate()
  return trial.finish()


class _Trial:
  """One trial's running state, with its one owner of each clock.

  `run_trial` reads as the loop it is: a timed `step`, the decision whether an eval is due
  (`eval_due`, which bills the submission), and an untimed `evaluate` that logs, checkpoints
  and sets `status` when a stopping rule fires. The per-step hot path is `step` and the
  first lines of `eval_due`.
  """

  def __init__(self, config: TrialConfig):
    # The submission's calling convention (AlgoPerf v0.6's, or v0.5's pmap form); its
    # errors carry a hint when they look like a submission run in the other one.
    convention = legacy_pmap.for_trial(config.legacy_pmap, config.submission.path)
    config = dataclasses.replace(config, submission=convention.adapt(config.submission),
                                 facts={**config.facts, 'calling_convention': convention.name})
    self.config, self.convention = config, convention
    self.terms = terms = config.terms or TrialTerms.of(config.workload)
    self.wall_start = time.perf_counter()
    self.metrics_logger = None
    if config.log_dir is not None:
      with _runner_io('its logs', config.log_dir):
        self.metrics_logger = logs.MetricsLogger(config.log_dir)
    submission_logger = (None if self.metrics_logger is None
                         else workload_view.SubmissionMetricsLogger(self.metrics_logger))
    # What the submission gets as `workload`: its own instance (if any) through a view that
    # keeps held-out data, evaluation and the runner's logs out of reach.
    self.view = view = convention.view(config.submission_workload or config.workload,
                                       submission_logger)
    start = _set_up(config, view, convention)
    if submission_logger is not None:
      submission_logger.set_preemption_count(start.preemption_count)
    _open_logs(config, start, self.metrics_logger, terms)
    self.params, self.model_state = start.params, start.model_state
    self.optimizer_state, self.input_queue = start.optimizer_state, start.input_queue
    self.train_state, self.eval_results = start.train_state, start.eval_results
    self.global_step, self.preemption_count = start.global_step, start.preemption_count
    self.reference_structure = (
        jax.tree.structure(self.params),
        [getattr(x, 'shape', None) for x in jax.tree.leaves(self.params)])
    self.observers = _build_observers(config, start, convention)

    # --- the clocks (rules 2-4) -------------------------------------------------------
    train_state = self.train_state
    self.clock = SubmissionClock(train_state['accumulated_submission_time'],
                                 watch=config.watch)
    self.eval_watch = Stopwatch(train_state['accumulated_eval_time'])
    self.log_watch = Stopwatch(train_state['accumulated_logging_time'])
    self.step_keys = StepKeys(_trial_keys(config.seed)[3])
    self.step_keys(self.global_step)  # Compiled before the clock starts.
    self.wall_before = train_state['total_duration']
    self.display = progress.TrialProgress(
        config.workload_name, config.budget_sec, terms.target_metric_name,
        terms.validation_target_value, enabled=config.show_progress and start.status is None,
        test_target=terms.test_target_value)
    self.update_kwargs = dict(
        workload=view, current_params_types=view.model_params_types,
        hyperparameters=config.hyperparameters, loss_type=terms.loss_type,
        eval_results=self.eval_results)
    if config.submission.update_params_accepts_train_state:
      self.update_kwargs['train_state'] = types.MappingProxyType(train_state)
    self.eval_after_first_step = self.global_step == 0 and not config.skip_evals
    self.eval_period = math.inf if config.skip_evals else terms.eval_period_time_sec
    self.trace = (StepTrace(config.log_dir) if config.capture_jax_trace and config.log_dir
                  else None)
    self.structure_checked = False
    # A trial that ended before its last kill takes no further step.
    self.status: str | None = start.status
    self.prefetch = getattr(self.input_queue, 'prefetch', None)
    self.sync = StepSync(self.clock)
    self.eval_key = None
    self.ensemble: spec.Ensemble | None = None  # what the last eval evaluated, if an ensemble
    self.out_of_steps = False
    ready_token(self._state())  # Compiled before the clock starts.
    if self.status is None:
      self.clock.start()

  def _state(self):
    return (self.optimizer_state, self.params, self.model_state)

  def step(self) -> None:
    """One timed step: keys, `data_selection`, `update_params` (observed, if wanted)."""
    config, submission, step = self.config, self.config.submission, self.global_step
    # AlgoPerf's meaning: wall time (time.time()) when the previous step, with its eval and
    # logging, ended; the trial's start before the first step. Submissions pace on it.
    self.train_state['last_step_end_time'] = time.time()
    if self.trace is not None:
      self.trace.before_step(step)
    data_key, update_key, self.eval_key = self.step_keys(step)
    batch = _call_submission(
        submission, 'data_selection', step, submission.data_selection,
        self.view, self.input_queue, self.optimizer_state, self.params, self.model_state,
        config.hyperparameters, step, data_key)
    watching = [o for o in self.observers if o.wants(step)] if self.observers else ()
    if watching:
      befores = self._observe_before(watching, step, batch)
    try:
      result = _call_submission(
          submission, 'update_params', step, submission.update_params,
          current_param_container=self.params, model_state=self.model_state, batch=batch,
          optimizer_state=self.optimizer_state, global_step=step, rng=update_key,
          **self.update_kwargs)
      if not self.structure_checked:
        result = _check_update_return(submission, result, self.reference_structure, step)
        self.structure_checked = True
      self.optimizer_state, self.params, self.model_state = result
    except spec.TrainingCompleteError:
      self.train_state['training_complete'] = True
    self.global_step += 1
    if watching:
      self._observe_after(watching, step, befores)
    if self.trace is not None:
      self.trace.after_step(step, self._state())
    if self.prefetch is not None:
      self.prefetch()  # Host work for the next batch overlaps the step the device runs.

  def _observe_before(self, watching, step: int, batch) -> list:
    """Stop the clock (billing all queued work), let observers copy the step's start."""
    self.train_state['accumulated_submission_time'] = self.sync.stop((*self._state(), batch))
    befores = [o.before_update(step, self.params, self.model_state, batch) for o in watching]
    self.clock.start()
    return befores

  def _observe_after(self, watching, step: int, befores: list) -> None:
    """Stop the clock once the update is computed, let observers look at its result."""
    self.train_state['accumulated_submission_time'] = self.sync.stop(self._state())
    for observer, before in zip(watching, befores, strict=True):
      observer.after_update(step, before, self.params, self.model_state)
    self.clock.start()

  def eval_due(self) -> bool:
    """Bill the step (now or, left in flight, at the next step) and say if an eval is due."""
    config, train_state, sync = self.config, self.train_state, self.sync
    settled = sync.settle()  # The previous step, if it was left in flight, is billed here.
    if settled is not None:
      train_state['accumulated_submission_time'] = settled
      self.display.step(self.global_step - 1, settled)
    self.out_of_steps = (config.max_global_steps is not None
                         and self.global_step >= config.max_global_steps)
    next_deadline = min(config.budget_sec,
                        train_state['last_eval_submission_time'] + self.eval_period)
    if not (self.out_of_steps or train_state['training_complete']
            or self.eval_after_first_step) and sync.defer(self._state(), next_deadline):
      return False  # Nothing can fall due when this step ends: the host goes on.
    # Sync on the returned state before reading the clock: queued work is billed here.
    submission_time = sync.lap(self._state())
    train_state['accumulated_submission_time'] = submission_time
    train_state['is_time_remaining'] = submission_time < config.budget_sec
    self.display.step(self.global_step, submission_time)
    return (self._ending() or self.eval_after_first_step or submission_time
            - train_state['last_eval_submission_time'] >= self.eval_period)

  def _ending(self) -> bool:
    return (not self.train_state['is_time_remaining'] or self.out_of_steps
            or self.train_state['training_complete'])

  def evaluate(self) -> None:
    """Rule 3: `prepare_for_eval` is billed; the eval, its row and the checkpoint are not."""
    config, submission, terms = self.config, self.config.submission, self.terms
    train_state, step = self.train_state, self.global_step
    _check_update_return(submission, self._state(), self.reference_structure, step)
    ensemble = None
    if submission.prepare_for_eval is not None:
      prepared = _call_submission(
          submission, 'prepare_for_eval', step, submission.prepare_for_eval,
          workload=self.view, current_param_container=self.params,
          current_params_types=self.view.model_params_types, model_state=self.model_state,
          hyperparameters=config.hyperparameters, loss_type=terms.loss_type,
          optimizer_state=self.optimizer_state, eval_results=self.eval_results,
          global_step=step, rng=self.eval_key)
      ensemble = self._take_prepared(prepared, step)
    self.ensemble = ensemble
    submission_time = self.sync.stop((self._state(), ensemble))
    self.eval_after_first_step = False
    with self.eval_watch:
      evaluated = ((ensemble, None) if ensemble is not None
                   else self.convention.for_eval(self.params, self.model_state))
      eval_result = _evaluate(config, *evaluated, self.eval_key, step)
      ensemble_row = ({} if ensemble is None
                      else _ensemble_row(config, ensemble, self.eval_key, step))
    diverged = not (bool(_all_finite(self.params)) and all(
        math.isfinite(v) for v in eval_result.values() if isinstance(v, float)))
    train_state.update(
        accumulated_submission_time=submission_time,
        accumulated_eval_time=self.eval_watch.accumulated,
        last_eval_submission_time=submission_time,
        last_eval_time=time.time(),  # wall time the eval ended, as AlgoPerf records it
        total_duration=self.wall_before + time.perf_counter() - self.wall_start)
    if not diverged and within_budget(submission_time, config.budget_sec):
      _record_targets(terms, train_state, eval_result, submission_time)
    row = {**eval_result,
           **ensemble_row,
           'score': submission_time,
           'accumulated_submission_time': submission_time,
           'accumulated_eval_time': self.eval_watch.accumulated,
           'accumulated_logging_time': self.log_watch.accumulated,
           'total_duration': train_state['total_duration']}
    self.eval_results.append((step, row))
    self.display.evaluated(eval_result.get(f'validation/{terms.target_metric_name}'),
                           validation_reached=train_state['validation_goal_reached'],
                           test_reached=train_state['test_goal_reached'],
                           test_value=eval_result.get(f'test/{terms.target_metric_name}'))
    self.status = self._stopping_rule(diverged)
    with self.log_watch, _runner_io('its logs and checkpoint', config.log_dir):
      if self.metrics_logger is not None:
        self.metrics_logger.append_scalar_metrics(row, step, self.preemption_count,
                                                  is_eval=True)
        train_state['accumulated_logging_time'] = self.log_watch.accumulated
        if config.save_checkpoints or self.status is not None:
          checkpoint.save(config.log_dir, checkpoint.TrialState(
              self.params, self.model_state, self.optimizer_state, step,
              self.preemption_count, dict(train_state), self.eval_results,
              self.input_queue.get_state(), self.status),
              keep_all=config.keep_all_checkpoints)
      for observer in self.observers:
        observer.after_eval(step, row, final=self.status is not None)
    train_state['accumulated_logging_time'] = self.log_watch.accumulated
    if self.status is None:
      self.clock.start()

  def _take_prepared(self, prepared, step: int) -> spec.Ensemble | None:
    """Take `prepare_for_eval`'s state; return the ensemble to evaluate, if it returned one.

    Ordinary params replace the training state (AlgoPerf's rule 3). An ensemble
    (docs/ensembles.md) is evaluated instead, and training continues from the params it had.
    """
    submission = self.config.submission
    if not (isinstance(prepared, (tuple, list)) and len(prepared) == 3
            and isinstance(prepared[1], spec.Ensemble)):
      self.optimizer_state, self.params, self.model_state = _check_update_return(
          submission, prepared, self.reference_structure, step, 'prepare_for_eval')
      return None
    ensemble = prepared[1]
    try:
      if self.convention.legacy:
        raise spec.EnsembleError('ensembles need the standard calling convention, not '
                                 'AlgoPerf v0.5\'s pmap form.')
      if not self.config.workload.supports_ensemble_eval:
        self.config.workload.combine_ensemble_outputs(None)  # raises the workload's reason
      ensemble_lib.check(ensemble, *self.reference_structure)
    except spec.EnsembleError as e:
      raise submission.error('prepare_for_eval', f'returned an ensemble the runner cannot '
                             f'evaluate at step {step}: {e}') from e
    self.optimizer_state, self.model_state = prepared[0], prepared[2]
    return ensemble

  def _stopping_rule(self, diverged: bool) -> str | None:
    train_state = self.train_state
    if diverged:
      return DIVERGED
    if (self.config.stop_at_targets and train_state['validation_goal_reached']
        and train_state['test_goal_reached']):
      return TARGETS_REACHED
    if train_state['training_complete']:
      return TRAINING_COMPLETE
    if not train_state['is_time_remaining']:
      return BUDGET_EXHAUSTED
    if self.out_of_steps:
      return MAX_STEPS
    return None

  def finish(self) -> TrialResult:
    """The trial's result, also written to trial_summary.json."""
    config, train_state = self.config, self.train_state
    self.display.close()
    if self.trace is not None:
      self.trace.stop()
    final_params, final_model_state = self.convention.for_eval(self.params, self.model_state)
    result = TrialResult(
        status=self.status, global_step=self.global_step,
        submission_time=self.clock.accumulated, eval_time=self.eval_watch.accumulated,
        logging_time=self.log_watch.accumulated,
        validation_target_reached=train_state['validation_goal_reached'],
        test_target_reached=train_state['test_goal_reached'],
        time_to_validation_target=train_state['time_to_validation_target'],
        time_to_test_target=train_state['time_to_test_target'],
        eval_results=self.eval_results, preemption_count=self.preemption_count,
        params=final_params, optimizer_state=self.optimizer_state,
        model_state=final_model_state, ensemble=self.ensemble)
    if config.log_dir is not None:
      with _runner_io('trial_summary.json', config.log_dir):
        logs.write_json(os.path.join(config.log_dir, logs.TRIAL_SUMMARY), result.summary())
    return result


def _build_observers(config: TrialConfig, start: _TrialStart,
                     convention) -> tuple[TrialObserver, ...]:
  """The trial's observers, built from `config.observers` before any step (untimed)."""
  if not config.observers or start.status is not None:
    return ()
  initial = convention.for_eval(start.initial_params, start.initial_model_state)
  context = TrialContext(
      workload=config.workload, log_dir=config.log_dir, seed=config.seed,
      preemption_count=start.preemption_count,
      resumed_at=start.global_step if start.restored else None,
      initial_params=_copied(initial[0]), initial_model_state=_copied(initial[1]),
      to_workload_form=convention.for_eval,
      batch_to_workload_form=convention.batch_for_runner)
  with _runner_io('its observers\' logs', config.log_dir):
    return tuple(factory(context) for factory in config.observers)


def _copied(tree):
  """A copy the submission cannot donate away (its update may consume its inputs)."""
  return jax.block_until_ready(jax.tree.map(
      lambda x: jnp.array(x, copy=True) if isinstance(x, jax.Array) else x, tree))


def _evaluate(config: TrialConfig, params, model_state, eval_key, global_step: int):
  eval_model = config.eval_model or config.workload.eval_model
  metrics = eval_model(
      config.eval_batch_size, params, model_state, eval_key, config.data_dir,
      config.imagenet_v2_data_dir, global_step)
  return {k: (float(v) if not isinstance(v, (int, str)) else v) for k, v in metrics.items()}


def _ensemble_row(config: TrialConfig, ensemble: spec.Ensemble, eval_key,
                  global_step: int) -> dict[str, Any]:
  """The eval row's record of an ensemble (the scorer's category rule: docs/ensembles.md):
  members, their extra memory, and the metrics of the last member alone (untimed)."""
  alone = _evaluate(config, *ensemble.member(-1), eval_key, global_step)
  return {logs.ENSEMBLE_MEMBERS: ensemble.num_members,
          logs.ENSEMBLE_EXTRA_BYTES: ensemble.extra_bytes,
          **{f'{logs.LAST_MEMBER_PREFIX}{k}': v for k, v in alone.items()
             if isinstance(v, float)}}


def _record_targets(terms: TrialTerms, train_state: dict, eval_result: dict,
                    submission_time: float) -> None:
  if not train_state['validation_goal_reached'] and terms.reached(eval_result, 'validation'):
    train_state['validation_goal_reached'] = True
    train_state['time_to_validation_target'] = submission_time
  if not terms.has_test:
    train_state['test_goal_reached'] = train_state['validation_goal_reached']
  elif not train_state['test_goal_reached'] and terms.reached(eval_result, 'test'):
    train_state['test_goal_reached'] = True
    train_state['time_to_test_target'] = submission_time


def _write_trial_files(config: TrialConfig, preemption_count: int, terms: TrialTerms) -> None:
  hp = config.hyperparameters
  hparams_path = os.path.join(config.log_dir, 'hparams.json')
  if hp is not None and not os.path.exists(hparams_path):
    logs.write_json(hparams_path, tuning.hparams_to_dict(hp))
  logs.write_json(
      os.path.join(config.log_dir, f'meta_data_{preemption_count}.json'),
      logs.meta_data(
          workload=config.workload_name, submission_path=config.submission.path,
          rng_seed=config.seed, preemption_count=preemption_count,
          global_batch_size=config.global_batch_size, eval_batch_size=config.eval_batch_size,
          budget_sec=config.budget_sec, max_global_steps=config.max_global_steps,
          target_metric_name=terms.target_metric_name,
          target_metric_higher_is_better=terms.target_metric_higher_is_better,
          validation_target_value=terms.validation_target_value,
          test_target_value=terms.test_target_value,
          hyperparameters=None if hp is None else tuning.hparams_to_dict(hp),
          data_location=getattr(config.workload, 'data_location', None),
          **config.facts))
  logs.write_json(os.path.join(config.log_dir, f'flags_{preemption_count}.json'), config.flags)
