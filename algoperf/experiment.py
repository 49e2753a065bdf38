"""Studies of trials: plan them, lay out their folders, run or resume each, summarise.

This is what `submission_runner.py` does once its flags are parsed. One invocation runs
one or several studies of one submission on one workload.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from typing import Any

from algoperf import (
  checkpoint,
  compliance,
  isolation,
  legacy_pmap,
  logs,
  submission,
  trial_job,
  tuning,
)

logger = logging.getLogger(__name__)

STUDY_RECORD = 'study.json'


class ExperimentError(ValueError):
  """The experiment cannot start as asked (existing logs, inconsistent seeds, ...)."""


class TrialInterrupted(KeyboardInterrupt):
  """Ctrl-C during a trial: which trial, and the step its last checkpoint holds (what a
  resume continues from; None when it has none yet)."""

  def __init__(self, workload: str, log_dir: str, checkpoint_step: int | None):
    super().__init__(log_dir)
    self.workload = workload
    self.log_dir = log_dir
    self.checkpoint_step = checkpoint_step

  def resume_hint(self) -> str:
    where = (f'at step {self.checkpoint_step} (its last checkpoint)'
             if self.checkpoint_step is not None else 'before its first checkpoint')
    return f'interrupted {where} of workload {self.workload} ({self.log_dir})'


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  submission_path: str
  workload_name: str
  experiment_dir: str
  experiment_name: str
  tuning_ruleset: str = 'external'
  tuning_search_space: str | None = None
  num_tuning_trials: int = 1
  num_studies: int = 1
  study_start_index: int = 0
  rng_seed: int | None = None
  pool_seed: int | None = None
  hparam_start_index: int | None = None
  hparam_end_index: int | None = None
  data_dir: str = ''
  imagenet_v2_data_dir: str | None = None
  max_global_steps: int | None = None
  save_checkpoints: bool = True
  save_intermediate_checkpoints: bool = False
  resume_last_run: bool = False
  overwrite: bool = False
  flags: dict[str, Any] = dataclasses.field(default_factory=dict)
  show_progress: bool | None = None
  # Each trial in its own watched process (docs/reliability.md). False runs trials in this
  # process: for debuggers, without the protection.
  isolate_trials: bool = True
  watchdog: isolation.WatchdogLimits = isolation.WatchdogLimits()
  # The static compliance check's findings stop the run instead of being warnings.
  strict: bool = False
  # False when the caller has checked the submission already (a suite, once for all).
  check_submission: bool = True
  # AlgoPerf's --skip_evals and --capture_jax_trace (runner.TrialConfig).
  skip_evals: bool = False
  # False trains every trial to its budget even after the targets are met (runs that
  # compare final metrics at equal budget: benchmarks/averaging_comparison.py).
  stop_at_targets: bool = True
  capture_jax_trace: bool = False
  # AlgoPerf v0.5's pmap calling convention: 'auto', 'on' or 'off' (algoperf.legacy_pmap).
  legacy_pmap: str = 'auto'
  # Instruments on every trial (algoperf.instruments.observer.InstrumentSettings), or None.
  instruments: Any = None
  # Every trial of a study gets trial 1's seed: only the hyperparameter point differs.
  shared_trial_seed: bool = False
  # Multiplies the workload's time budget (after the ruleset's factor): runs bounded by
  # max_global_steps that must not be cut by the clock (a diagnosis's trials) raise it.
  budget_factor: float = 1.0
  # Further observer factories for every trial (algoperf/observers.py), e.g. a diagnosis's
  # probes; picklable, as each trial process builds its own.
  observers: tuple = ()

  def __post_init__(self):
    _check_config(self)


def _check_config(config: ExperimentConfig) -> None:
  """One clear error for flags that would otherwise do nothing, or something else."""
  def positive_int(name, value, allow_none=False):
    if value is None and allow_none:
      return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ExperimentError(f'--{name} must be an int >= 1, got {value!r}.')
  positive_int('num_studies', config.num_studies)
  positive_int('num_tuning_trials', config.num_tuning_trials)
  positive_int('max_global_steps', config.max_global_steps, allow_none=True)
  if not (isinstance(config.budget_factor, (int, float)) and config.budget_factor > 0):
    raise ExperimentError(f'budget_factor must be a number > 0, got {config.budget_factor!r}.')
  if config.legacy_pmap not in legacy_pmap.MODES:
    raise ExperimentError(f'--legacy_pmap must be one of {", ".join(legacy_pmap.MODES)}, '
                          f'got {config.legacy_pmap!r}.')
  if config.instruments is not None:
    try:
      config.instruments.check(config.max_global_steps)
    except ValueError as e:
      raise ExperimentError(str(e)) from e
  if config.resume_last_run and config.overwrite:
    raise ExperimentError('--overwrite and --resume_last_run contradict each other: '
                          'choose one (overwrite deletes the logs resume would continue).')
  name = config.experiment_name
  root = os.path.realpath(config.experiment_dir)
  target = os.path.realpath(os.path.join(root, name or ''))
  if (not name or os.path.isabs(name) or os.path.commonpath([root, target]) != root
      or target == root):
    raise ExperimentError(
        f'--experiment_name={name!r} must name a folder inside --experiment_dir '
        f'({config.experiment_dir}); it may not be empty, absolute or contain "..".')


@dataclasses.dataclass
class TrialOutcome:
  plan: tuning.TrialPlan
  log_dir: str
  summary: dict[str, Any] | None
  error: str | None = None


def _workload_dir(config: ExperimentConfig, study_index: int) -> str:
  return os.path.join(
      logs.study_dir(config.experiment_dir, config.experiment_name, study_index),
      f'{config.workload_name}_{logs.FRAMEWORK}')


def _base_seed(config: ExperimentConfig) -> int:
  """The user's seed, else the one recorded by the run being resumed, else a fresh one."""
  recorded = {}
  for k in range(config.study_start_index, config.study_start_index + config.num_studies):
    path = os.path.join(_workload_dir(config, k), STUDY_RECORD)
    if os.path.exists(path):
      recorded[path] = logs.read_json(path)['base_seed']
  if config.rng_seed is not None:
    if config.resume_last_run:
      for path, seed in recorded.items():
        if seed != config.rng_seed:
          raise ExperimentError(
              f'{path}: this run used --rng_seed={seed}; resuming with '
              f'--rng_seed={config.rng_seed} would change its hyperparameters and data.')
    return config.rng_seed
  if config.resume_last_run and recorded:
    return next(iter(recorded.values()))
  return tuning.random_base_seed()


def _prepare_dirs(config: ExperimentConfig, plans: list[tuning.TrialPlan]) -> None:
  """Refuse to mix runs: existing trial logs need --resume_last_run or --overwrite."""
  existing = [p for p in (_trial_dir(config, plan) for plan in plans) if os.path.exists(p)]
  if not existing or config.resume_last_run:
    return
  if not config.overwrite:
    raise ExperimentError(
        f'{existing[0]} already holds logs ({len(existing)} trial folder(s) of this run '
        'exist). Pass --resume_last_run to continue them or --overwrite to start over.')
  for path in existing:
    shutil.rmtree(path)


def _trial_dir(config: ExperimentConfig, plan: tuning.TrialPlan) -> str:
  return logs.trial_dir(config.experiment_dir, config.experiment_name, plan.study_index,
                        config.workload_name, plan.trial_index)


def run_experiment(config: ExperimentConfig, workload_factory, base_workload_name: str
                   ) -> list[TrialOutcome]:
  """Run every planned trial; a trial that fails is recorded, and the next one runs.

  The submission is checked (loaded, its signatures read) before any trial, in a trial
  process of its own when trials are isolated: nothing of it runs in this process.
  """
  if config.check_submission:
    check_submission(config.submission_path, isolated=config.isolate_trials,
                     strict=config.strict)
  base_seed = _base_seed(config)
  studies = range(config.study_start_index, config.study_start_index + config.num_studies)
  try:
    plans = [plan for k in studies for plan in tuning.plan_study(
        config.tuning_ruleset, config.tuning_search_space, config.num_tuning_trials, k,
        base_seed, config.hparam_start_index, config.hparam_end_index, config.pool_seed,
        shared_seed=config.shared_trial_seed)]
  except tuning.SearchSpaceError:
    raise
  except ValueError as e:  # Inconsistent tuning flags: say which, before any work.
    raise ExperimentError(str(e)) from e
  if config.check_submission:
    report_missing_hyperparameters(config.submission_path, config.tuning_ruleset,
                                   config.tuning_search_space, config.strict)
  _prepare_dirs(config, plans)
  if config.resume_last_run:
    _check_resumable(config, plans)
  for k in studies:
    logs.write_json(os.path.join(_workload_dir(config, k), STUDY_RECORD), {
        'base_seed': base_seed, 'study_seed': tuning.study_seed(base_seed, k),
        'pool_seed': config.pool_seed if config.pool_seed is not None
        else tuning.default_pool_seed(base_seed),
        'tuning_ruleset': config.tuning_ruleset,
        'tuning_search_space': config.tuning_search_space,
        'num_tuning_trials': config.num_tuning_trials})

  budget_sec = None
  outcomes = []
  for plan in plans:
    log_dir = _trial_dir(config, plan)
    summary_path = os.path.join(log_dir, logs.TRIAL_SUMMARY)
    summary = (logs.read_json(summary_path)
               if config.resume_last_run and os.path.exists(summary_path) else None)
    if summary is not None and summary.get('status') not in trial_job.RETRIED_ON_RESUME:
      outcome = TrialOutcome(plan, log_dir, summary, summary.get('error')
                             if summary.get('status') in trial_job.FAILED_STATUSES else None)
      logger.info('%s finished earlier; not rerun.', log_dir)
    else:
      if budget_sec is None:
        budget_sec = (workload_factory().max_allowed_runtime_sec
                      * tuning.budget_factor(config.tuning_ruleset) * config.budget_factor)
      job = _trial_job(config, plan, log_dir, workload_factory, base_workload_name,
                       budget_sec)
      try:
        result = (isolation.run_isolated(job, _watchdog(config)) if config.isolate_trials
                  else trial_job.run_job(job))
      except KeyboardInterrupt as e:
        raise TrialInterrupted(config.workload_name, log_dir,
                               checkpoint.latest_step(log_dir)) from e
      outcome = TrialOutcome(plan, log_dir, result.summary, result.error)
    outcomes.append(outcome)
    print(format_outcome(outcome), flush=True)
  return outcomes


def check_submission(path: str, isolated: bool = True, strict: bool = False) -> None:
  """Check the submission before any trial, raising `SubmissionError` if it breaks the
  contract: first its source, statically (docs/compliance.md; findings are warnings, or
  errors when `strict`), then its functions, loaded. Isolated, the import runs in a
  short-lived process of its own, so code that ends or crashes the process at import time
  cannot take this one with it."""
  report_compliance(path, strict)
  if not isolated:
    submission.load_submission(path).unload()
    return
  error = isolation.check_in_process_of_its_own(path)
  if error is not None:
    raise submission.SubmissionError(error)


def report_compliance(path: str, strict: bool) -> None:
  """Log the static check's findings; under `strict`, refuse the submission for them."""
  if not os.path.isfile(path):
    return  # The loader says so, in its own words.
  findings = compliance.scan_submission(os.path.abspath(path))
  for finding in findings:
    logger.warning('compliance %s: %s', finding.severity, finding)
  errors = [f for f in findings if f.severity != 'note']
  if strict and errors:
    raise submission.SubmissionError(
        f'{path}: refused under --strict: the static compliance check found '
        f'{len(errors)} problem(s):\n' + '\n'.join(f'  {f}' for f in errors))


def report_missing_hyperparameters(submission_path: str, ruleset: str,
                                   search_space: str | None, strict: bool = False) -> None:
  """Warn (refuse under `strict`) before training when the submission reads hyperparameters
  the search space lacks, as far as its source shows: at run time such a read fails
  anyway, with an error naming the search space file."""
  if ruleset != 'external' or search_space is None:
    return
  names = tuning.load_search_space(search_space).names
  missing = compliance.missing_hyperparameters(os.path.abspath(submission_path), names)
  if not missing:
    return
  message = (f'{submission_path} reads hyperparameter(s) {", ".join(missing)} that the '
             f'search space {search_space} lacks (it has: {", ".join(names)})')
  if strict:
    raise submission.SubmissionError(message)
  logger.warning('%s; trials will fail where the submission reads them.', message)


# Instruments run off the submission clock but on the wall clock: an instrumented trial may
# live this many times longer before the watchdog's wall limit ends it (the worst measured
# case, `full` at every step on mnist1d, makes the steps ~260x slower on a CPU;
# benchmarks/README.md).
INSTRUMENTED_WALL_FACTOR = 400.0


def _watchdog(config: ExperimentConfig) -> isolation.WatchdogLimits:
  if config.instruments is None:
    return config.watchdog
  return dataclasses.replace(
      config.watchdog, wall_factor=config.watchdog.wall_factor * INSTRUMENTED_WALL_FACTOR)


def _trial_job(config: ExperimentConfig, plan: tuning.TrialPlan, log_dir: str,
               workload_factory, base_workload_name: str, budget_sec: float
               ) -> trial_job.TrialJob:
  return trial_job.TrialJob(
      submission_path=os.path.abspath(config.submission_path),
      workload_name=config.workload_name, base_workload_name=base_workload_name,
      workload_factory=workload_factory, log_dir=log_dir, study_index=plan.study_index,
      trial_index=plan.trial_index, seed=plan.seed,
      hyperparameters=(None if plan.hyperparameters is None
                       else tuning.hparams_to_dict(plan.hyperparameters)),
      budget_sec=budget_sec, tuning_ruleset=config.tuning_ruleset,
      tuning_search_space=config.tuning_search_space, data_dir=config.data_dir,
      imagenet_v2_data_dir=config.imagenet_v2_data_dir,
      max_global_steps=config.max_global_steps, save_checkpoints=config.save_checkpoints,
      keep_all_checkpoints=config.save_intermediate_checkpoints,
      resume=config.resume_last_run and checkpoint.latest_step(log_dir) is not None,
      flags=config.flags, show_progress=config.show_progress,
      skip_evals=config.skip_evals, stop_at_targets=config.stop_at_targets,
      capture_jax_trace=config.capture_jax_trace,
      legacy_pmap=config.legacy_pmap,
      observers=_observers(config))


def _observers(config: ExperimentConfig) -> tuple:
  """Every observer factory a trial of this experiment gets, instruments first."""
  instruments = () if config.instruments is None else (config.instruments,)
  return instruments + tuple(config.observers)


def _check_resumable(config: ExperimentConfig, plans: list[tuning.TrialPlan]) -> None:
  """Refuse to continue a trial whose recorded run differs from this one, naming what."""
  digest = trial_job.file_sha256(os.path.abspath(config.submission_path))
  for plan in plans:
    log_dir = _trial_dir(config, plan)
    meta_path = os.path.join(log_dir, 'meta_data_0.json')
    if not os.path.exists(meta_path):
      continue
    meta = logs.read_json(meta_path)
    differences = []
    if meta.get('workload') not in (None, config.workload_name):
      differences.append(f'workload {meta["workload"]!r} vs {config.workload_name!r}')
    recorded_digest = meta.get('submission_sha256')
    if recorded_digest is not None and recorded_digest != digest:
      differences.append(f'submission file content ({meta.get("submission_path")} '
                         f'sha256 {recorded_digest[:12]}… vs {config.submission_path} '
                         f'sha256 {digest[:12]}…)')
    hparams = (None if plan.hyperparameters is None
               else tuning.hparams_to_dict(plan.hyperparameters))
    recorded_hparams = meta.get('hyperparameters')
    if recorded_hparams is not None and hparams is not None and recorded_hparams != hparams:
      differences.append(f'search-space point {recorded_hparams} vs {hparams}')
    recorded_convention = meta.get('calling_convention')
    convention = legacy_pmap.convention_name(config.legacy_pmap, config.submission_path)
    if recorded_convention not in (None, convention):
      differences.append(f'calling convention {recorded_convention!r} vs {convention!r} '
                         f'(--legacy_pmap={config.legacy_pmap})')
    step = checkpoint.latest_step(log_dir)
    if (step is not None and config.max_global_steps is not None
        and config.max_global_steps < step and not os.path.exists(
            os.path.join(log_dir, logs.TRIAL_SUMMARY))):
      differences.append(f'--max_global_steps={config.max_global_steps} is below the '
                         f'checkpoint\'s step {step}')
    if differences:
      raise ExperimentError(
          f'{log_dir}: --resume_last_run would continue a different run: '
          + '; '.join(differences) + '. Use another --experiment_name, or --overwrite to '
          'start over.')


def format_outcome(outcome: TrialOutcome) -> str:
  """The one-line verdict printed after each trial."""
  head = f'study {outcome.plan.study_index} trial {outcome.plan.trial_index}'
  if outcome.error is not None:
    status = (outcome.summary or {}).get('status', trial_job.SUBMISSION_ERROR)
    return f'{head}: FAILED ({status}): {outcome.error}'
  s = outcome.summary
  ttt = s.get('time_to_validation_target')
  reached = (f'validation target reached at {ttt:.1f} s' if ttt is not None
             else 'validation target not reached')
  return (f'{head}: {reached}; stopped: {s["status"]} after {s["global_step"]} steps, '
          f'{s["submission_time"]:.1f} s of submission time')


def study_summary(outcomes: list[TrialOutcome]) -> list[str]:
  """Per study, the best trial's time to the validation target (least time)."""
  lines = []
  for k in sorted({o.plan.study_index for o in outcomes}):
    times = [(o.summary.get('time_to_validation_target'), o.plan.trial_index)
             for o in outcomes if o.plan.study_index == k and o.summary]
    reached = [t for t in times if t[0] is not None]
    if reached:
      best, trial = min(reached)
      lines.append(f'study {k}: time to validation target {best:.1f} s (trial {trial})')
    else:
      lines.append(f'study {k}: no trial reached the validation target')
    failed = [f'trial {o.plan.trial_index} ({(o.summary or {}).get("status", "error")})'
              for o in outcomes if o.plan.study_index == k and o.error is not None]
    if failed:
      lines.append(f'study {k}: {len(failed)} trial(s) FAILED: {", ".join(failed)}; '
                   'each trial folder\'s trial_summary.json says why')
  return lines
