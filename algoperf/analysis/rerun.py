"""Rerun the best setting of a study with new seeds, as a new study next to it.

A tuning study shows one curve per hyperparameter point, so the spread due to the seed alone
is invisible. This picks the study's best trial (`results.best_trial`: fastest to the
target, else the best validation value), and reruns exactly its hyperparameters with K new
seeds through the ordinary experiment machinery (`experiment.run_experiment`): the search
space is a list-form file holding that one point K times, so trial i of the new study gets
entry i (the same values) and its own seed `trial_seed(study_seed(base, m), i)`. The new
study is `study_<m>` in the same experiment folder, with m one past the highest existing
index, and holds, next to its trials:

  <workload>_jax/seed_rerun.json                 where the setting came from, and why
  <workload>_jax/seed_rerun_search_space.json    the K-point list-form search space

The analysis reader tags the trials of such a folder `runs='seeds'`, so the learning curves
show them as their own series: median and inter-quartile range over seeds of one setting.
The scorer reads them as one more study of the submission (with K trials).
"""

from __future__ import annotations

import dataclasses
import os

import pandas as pd

from algoperf import experiment, logs
from algoperf.analysis import results, workload_targets
from algoperf.analysis import runs as runs_lib
from algoperf.scoring import reader
from algoperf.scoring.issues import Issues
from algoperf.scoring.targets import BenchmarkTargets

SEARCH_SPACE_FILE = 'seed_rerun_search_space.json'


class RerunError(ValueError):
  """The study cannot be rerun as asked; the message names the folder and the reason."""


@dataclasses.dataclass(frozen=True)
class SeedRerun:
  """What was rerun, why, and where the new trials are."""
  source_trial: str
  reason: str
  hyperparameters: dict
  study_dir: str
  outcomes: list[experiment.TrialOutcome]

  @property
  def seeds(self) -> list[int]:
    return [o.plan.seed for o in self.outcomes]


def _workload_folder(study_path: str, workload: str | None) -> str:
  folders = [d for d in sorted(os.listdir(study_path))
             if runs_lib.workload_dir_keys(d) is not None
             and os.path.isdir(os.path.join(study_path, d))]
  if workload is not None:
    folders = [d for d in folders if runs_lib.workload_dir_keys(d)['workload'] == workload]
  if len(folders) != 1:
    which = f'workload {workload!r}' if workload else 'exactly one workload'
    raise RerunError(f'{study_path}: expected one <workload>_<framework> folder for {which}, '
                     f'found {folders}; pass the workload name')
  return os.path.join(study_path, folders[0])


def study_best_trial(study_path: str, workload: str | None = None,
                     targets: BenchmarkTargets | None = None, ruleset: str = 'external',
                     enforce_budget: bool = True, issues: Issues | None = None
                     ) -> tuple[pd.Series, str]:
  """The best trial of one workload in one `study_<k>` folder, and that workload's name."""
  issues = issues or Issues()
  if not os.path.isdir(study_path) or not reader.STUDY_RE.match(
      os.path.basename(os.path.normpath(study_path))):
    raise RerunError(f'{study_path}: not a study_<k> folder')
  folder = _workload_folder(study_path, workload)
  keys = runs_lib.workload_dir_keys(folder)
  experiment_path = os.path.dirname(os.path.abspath(study_path))
  keys.update(submission=os.path.basename(experiment_path), experiment='.',
              study=os.path.basename(os.path.normpath(study_path)))
  runs = runs_lib.collect(runs_lib.read_workload_dir(folder, keys, issues))
  if runs.trials.empty:
    raise RerunError(f'{folder}: no trial with readable eval_measurements.csv')
  resolved = workload_targets.resolve(runs.trials, targets, ruleset, issues)
  if keys['workload'] not in resolved:
    raise RerunError(f'{folder}: the target metric is unknown (give a targets file)')
  outcomes = results.trial_outcomes(runs, resolved, enforce_budget, issues)
  best = results.best_trial(outcomes, resolved[keys['workload']].higher_is_better)
  if best is None:
    raise RerunError(f'{folder}: no trial has a finite validation value to rank by')
  return best, keys['workload']


def next_study_index(experiment_path: str) -> int:
  """One past the highest `study_<k>` index in the experiment folder."""
  indices = [int(m.group(1)) for d in os.listdir(experiment_path)
             if (m := reader.STUDY_RE.match(d))]
  return max(indices, default=-1) + 1


def rerun_best_seeds(study_path: str, num_seeds: int, workload_factory, base_workload_name: str,
                     *, workload: str | None = None, targets: BenchmarkTargets | None = None,
                     ruleset: str = 'external', rng_seed: int | None = None,
                     submission_path: str | None = None, max_global_steps: int | None = None,
                     data_dir: str | None = None, save_checkpoints: bool | None = None,
                     show_progress: bool | None = False) -> SeedRerun:
  """Rerun the best trial's hyperparameters of `study_path` with `num_seeds` new seeds.

  `workload_factory()` makes the workload (as for `experiment.run_experiment`).
  `submission_path`, `max_global_steps`, `data_dir` and `save_checkpoints` default to what
  the best trial recorded (meta_data_0.json, flags_0.json); `rng_seed` is the new study's
  base seed
  (random and recorded in its study.json when None).
  """
  if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
    raise RerunError(f'num_seeds must be an int >= 1, got {num_seeds!r}')
  issues = Issues()
  best, workload = study_best_trial(study_path, workload, targets, ruleset, issues=issues)
  hparams = dict(best['hparams'] or {})
  if not hparams:
    raise RerunError(f'{best["path"]}: no hparams.json (a self-tuning trial?); a seed rerun '
                     'reruns a hyperparameter setting. For self-tuning runs, run more studies '
                     'with submission_runner.py --num_studies')
  meta = runs_lib.first_meta_data(best['path'], issues)
  flags_path = os.path.join(best['path'], 'flags_0.json')
  recorded_flags = logs.read_json(flags_path) if os.path.isfile(flags_path) else {}
  submission_path = submission_path or meta.get('submission_path')
  if not submission_path or not os.path.isfile(submission_path):
    raise RerunError(f'{best["path"]}: submission file {submission_path!r} (from meta_data) '
                     'not found from here; pass the submission path')
  experiment_path = os.path.dirname(os.path.abspath(study_path))
  index = next_study_index(experiment_path)
  new_study = os.path.join(experiment_path, f'study_{index}')
  workload_dir = os.path.join(new_study, f'{workload}_{logs.FRAMEWORK}')
  reason = results.best_reason(best)
  space_path = os.path.join(workload_dir, SEARCH_SPACE_FILE)
  logs.write_json(space_path, [hparams] * num_seeds)
  logs.write_json(os.path.join(workload_dir, runs_lib.SEED_RERUN_FILE), {
      'source_trial': os.path.relpath(best['path'], experiment_path),
      'source_seed': meta.get('rng_seed'), 'reason': reason, 'hyperparameters': hparams,
      'num_seeds': num_seeds})
  max_steps = max_global_steps if max_global_steps is not None else meta.get('max_global_steps')
  config = experiment.ExperimentConfig(
      submission_path=submission_path, workload_name=workload,
      experiment_dir=os.path.dirname(experiment_path),
      experiment_name=os.path.basename(experiment_path), tuning_ruleset='external',
      tuning_search_space=space_path, num_tuning_trials=num_seeds, num_studies=1,
      study_start_index=index, rng_seed=rng_seed,
      data_dir=data_dir if data_dir is not None else recorded_flags.get('data_dir', ''),
      max_global_steps=max_steps,
      save_checkpoints=(save_checkpoints if save_checkpoints is not None
                        else bool(recorded_flags.get('save_checkpoints', True))),
      flags={'seed_rerun_of': best['path'], 'num_seeds': num_seeds, 'rng_seed': rng_seed,
             'max_global_steps': max_steps},
      show_progress=show_progress)
  outcomes = experiment.run_experiment(config, workload_factory, base_workload_name)
  return SeedRerun(source_trial=best['path'], reason=reason, hyperparameters=hparams,
                   study_dir=new_study, outcomes=outcomes)
