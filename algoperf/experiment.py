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

import jax

from algoperf import checkpoint, logs, runner, submission, tuning

logger = logging.getLogger(__name__)

STUDY_RECORD = 'study.json'


class ExperimentError(ValueError):
  """The experiment cannot start as asked (existing logs, inconsistent seeds, ...)."""


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
  """Run every planned trial; a trial whose submission fails is recorded and skipped."""
  sub = submission.load_submission(config.submission_path)
  num_devices = jax.device_count()
  base_seed = _base_seed(config)
  studies = range(config.study_start_index, config.study_start_index + config.num_studies)
  try:
    plans = [plan for k in studies for plan in tuning.plan_study(
        config.tuning_ruleset, config.tuning_search_space, config.num_tuning_trials, k,
        base_seed, config.hparam_start_index, config.hparam_end_index, config.pool_seed)]
  except tuning.SearchSpaceError:
    raise
  except ValueError as e:  # Inconsistent tuning flags: say which, before any work.
    raise ExperimentError(str(e)) from e
  _prepare_dirs(config, plans)
  for k in studies:
    logs.write_json(os.path.join(_workload_dir(config, k), STUDY_RECORD), {
        'base_seed': base_seed, 'study_seed': tuning.study_seed(base_seed, k),
        'pool_seed': config.pool_seed if config.pool_seed is not None
        else tuning.default_pool_seed(base_seed),
        'tuning_ruleset': config.tuning_ruleset,
        'tuning_search_space': config.tuning_search_space,
        'num_tuning_trials': config.num_tuning_trials})

  outcomes = []
  for plan in plans:
    log_dir = _trial_dir(config, plan)
    summary_path = os.path.join(log_dir, logs.TRIAL_SUMMARY)
    if config.resume_last_run and os.path.exists(summary_path):
      outcome = TrialOutcome(plan, log_dir, logs.read_json(summary_path))
      logger.info('%s finished earlier; not rerun.', log_dir)
    else:
      outcome = _run_one(config, sub, plan, log_dir, workload_factory(), base_workload_name,
                         num_devices)
    outcomes.append(outcome)
    print(format_outcome(outcome), flush=True)
  return outcomes


def _run_one(config, sub, plan, log_dir, workload, base_workload_name, num_devices):
  try:
    batch_size = submission.resolve_batch_size(
        sub, config.workload_name, base_workload_name, workload.default_batch_size,
        num_devices)
    eval_batch_size = submission.resolve_eval_batch_size(
        sub, config.workload_name, workload.eval_batch_size, num_devices)
    result = runner.run_trial(runner.TrialConfig(
        workload=workload, workload_name=config.workload_name, submission=sub,
        hyperparameters=plan.hyperparameters, seed=plan.seed, global_batch_size=batch_size,
        eval_batch_size=eval_batch_size,
        budget_sec=workload.max_allowed_runtime_sec * tuning.budget_factor(
            config.tuning_ruleset),
        data_dir=config.data_dir, imagenet_v2_data_dir=config.imagenet_v2_data_dir,
        log_dir=log_dir, max_global_steps=config.max_global_steps,
        save_checkpoints=config.save_checkpoints,
        keep_all_checkpoints=config.save_intermediate_checkpoints,
        resume=config.resume_last_run and checkpoint.latest_step(log_dir) is not None,
        flags=config.flags, show_progress=config.show_progress,
        facts={'study_index': plan.study_index, 'trial_index': plan.trial_index,
               'tuning_ruleset': config.tuning_ruleset,
               'tuning_search_space': config.tuning_search_space}))
  except submission.SubmissionError as e:
    logs.write_json(os.path.join(log_dir, logs.TRIAL_SUMMARY),
                    {'status': 'error', 'error': str(e)})
    return TrialOutcome(plan, log_dir, None, error=str(e))
  return TrialOutcome(plan, log_dir, result.summary())


def format_outcome(outcome: TrialOutcome) -> str:
  """The one-line verdict printed after each trial."""
  head = f'study {outcome.plan.study_index} trial {outcome.plan.trial_index}'
  if outcome.error is not None:
    return f'{head}: FAILED: {outcome.error}'
  s = outcome.summary
  if s.get('status') == 'error':
    return f'{head}: FAILED earlier: {s.get("error")}'
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
  return lines
