"""A diagnosis's trials: ordinary trials of one experiment, one per hyperparameter point.

`run_points` writes the points as a list-form search space (`points.json`) in the
diagnosis's folder and runs trial i on point i through `algoperf.experiment` (isolated
processes, checkpoints, the normal layout), one trial at a time so progress is printed
between them. A rerun resumes: finished trials are kept, an interrupted one continues from
its checkpoint. A folder that holds other points is refused, never overwritten, unless the
caller asked to start over. Trials run to --steps (their time budget is the workload's
× `BUDGET_FACTOR`). Every trial gets the same seed (same initialisation and data
order), so the points are all that differs between them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from algoperf import experiment, logs
from algoperf.diagnosis import probes, rules
from algoperf.diagnosis.config import DiagnosisConfig, DiagnosisError

logger = logging.getLogger(__name__)

POINTS_FILE = 'points.json'
# A diagnosis's trials are bounded by --steps; the workload's time budget, made this much
# longer, only stops a runaway (the budget is about speed, a diagnosis about stability).
BUDGET_FACTOR = 10.0
FAILED = 'failed'


@dataclasses.dataclass
class TrialRecord:
  """One finished (or failed) trial, read back from its folder."""
  point: dict[str, Any]
  log_dir: str
  summary: dict[str, Any] | None
  error: str | None
  probe: Any      # pandas DataFrame: the diagnosis.csv rows
  evals: Any      # pandas DataFrame: eval_measurements.csv

  def series(self, column: str):
    """(steps, values) of a probe column, as numpy arrays (empty when not logged)."""
    import numpy as np
    if column not in self.probe:
      return np.array([], int), np.array([], float)
    rows = self.probe[['global_step', column]].dropna(subset=[column])
    return rows['global_step'].to_numpy(int), rows[column].to_numpy(float)

  def final_eval(self, column: str) -> float | None:
    """The last eval row's value of `column` (e.g. 'validation/loss'), if logged."""
    if column not in self.evals or not len(self.evals):
      return None
    value = self.evals[column].iloc[-1]
    return None if value != value else float(value)

  def verdict(self, total_steps: int, rule: rules.Rule = rules.DEFAULT_RULE,
              column: str = 'train_loss') -> rules.Verdict:
    """The classifier's verdict on the probed loss, with what the runner saw on top: a
    failed trial is not judged, a trial the runner stopped as diverged is diverged."""
    if self.error is not None:
      return rules.Verdict(FAILED, self.error)
    steps, losses = self.series(column)
    verdict = rules.classify(steps, losses, total_steps, rule)
    if (self.summary or {}).get('status') == 'diverged' and verdict.label != rules.DIVERGED:
      step = self.summary.get('global_step')
      return rules.Verdict(rules.DIVERGED, f'the runner found a non-finite value at its '
                           f'eval at step {step}', step, verdict.spikes,
                           verdict.initial_loss, verdict.final_loss)
    return verdict


def prepare_folder(folder: str, points: Sequence[Mapping[str, Any]], overwrite: bool) -> str:
  """The folder's points.json: written when new, checked when resuming."""
  path = os.path.join(folder, POINTS_FILE)
  if overwrite and os.path.isdir(folder):
    shutil.rmtree(folder)
  points = [dict(p) for p in points]
  if os.path.exists(path):
    recorded = logs.read_json(path)
    if recorded != points[:len(recorded)] or len(recorded) > len(points):
      raise DiagnosisError(
          f'{folder} holds a diagnosis of other hyperparameter points ({path}); its runs '
          'are kept. Pass --overwrite to start over, or another --output_dir.')
  logs.write_json(path, points)
  return path


def run_points(config: DiagnosisConfig, name: str, points: Sequence[Mapping[str, Any]],
               probe: probes.ProbeSettings, steps: int, overwrite: bool = False,
               describe: Callable[[Mapping[str, Any]], str] = str) -> list[TrialRecord]:
  """Run (or resume) one trial per point in <output_dir>/<name>/; read them all back."""
  from workloads import registry
  folder = config.folder(name)
  points_path = prepare_folder(folder, points, overwrite)
  workload_class = registry.workload_class(config.workload)
  base_name = registry.base_workload_name(config.workload)
  records = []
  for i, point in enumerate(points):
    print(f'[{name} {i + 1}/{len(points)}] {describe(point)}', flush=True)
    run_config = experiment.ExperimentConfig(
        submission_path=config.submission_path, workload_name=config.workload,
        experiment_dir=config.output_dir, experiment_name=name,
        tuning_search_space=points_path, num_tuning_trials=len(points),
        hparam_start_index=i, hparam_end_index=i + 1, rng_seed=config.rng_seed,
        shared_trial_seed=True, budget_factor=BUDGET_FACTOR,
        data_dir=config.data_dir, max_global_steps=steps, resume_last_run=True,
        show_progress=config.show_progress, isolate_trials=config.isolate_trials,
        check_submission=i == 0, legacy_pmap=config.legacy_pmap, observers=(probe,))
    [outcome] = experiment.run_experiment(run_config, workload_class, base_name)
    records.append(read_record(outcome.log_dir, dict(point), outcome.summary, outcome.error))
  return records


def read_record(log_dir: str, point: dict[str, Any], summary: dict | None,
                error: str | None) -> TrialRecord:
  import pandas as pd
  path = os.path.join(log_dir, logs.EVAL_MEASUREMENTS)
  evals = (pd.read_csv(path) if os.path.exists(path) and os.path.getsize(path)
           else pd.DataFrame())
  return TrialRecord(point, log_dir, summary, error, probes.read(log_dir), evals)


def probe_every(steps: int, points: int = 200) -> int:
  """Probe every k-th step so a trial of `steps` steps logs about `points` rows."""
  return max(1, steps // points)
