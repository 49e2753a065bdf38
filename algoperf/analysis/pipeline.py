"""Analyse an experiment tree end to end: logs -> trials -> curves, sensitivity, summary."""

from __future__ import annotations

import dataclasses

import pandas as pd

from algoperf.analysis import curves as curves_lib
from algoperf.analysis import figures, results, summary, workload_targets
from algoperf.analysis import runs as runs_lib
from algoperf.scoring.issues import Issues
from algoperf.scoring.targets import RULESETS, BenchmarkTargets, WorkloadTarget

SENSITIVITY_VALUES = ('best', 'final')


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
  """How to analyse. `targets=None` takes every target from the trials' meta_data."""
  targets: BenchmarkTargets | None = None
  ruleset: str = 'external'  # budget factor for targets-file budgets
  enforce_budget: bool = True
  num_points: int = curves_lib.DEFAULT_NUM_POINTS
  sensitivity_value: str = 'best'
  workloads: tuple[str, ...] | None = None
  exclude_submissions: tuple[str, ...] = ()
  strict: bool = False

  def check(self) -> None:
    if self.ruleset not in RULESETS:
      raise ValueError(f'ruleset must be one of {RULESETS}, got {self.ruleset!r}')
    if self.num_points < 2:
      raise ValueError(f'num_points must be at least 2, got {self.num_points}')
    if self.sensitivity_value not in SENSITIVITY_VALUES:
      raise ValueError(f'sensitivity_value must be one of {SENSITIVITY_VALUES}, got '
                       f'{self.sensitivity_value!r}')


@dataclasses.dataclass(frozen=True)
class AnalysisResult:
  """Every table of one analysis; figures are drawn from these when written."""
  directory: str
  options: AnalysisOptions
  targets: dict[str, WorkloadTarget]
  runs: runs_lib.Runs
  outcomes: pd.DataFrame  # one row per trial (results.trial_outcomes + series)
  curves: dict[str, pd.DataFrame]  # workload -> long table of median/IQR curves
  summary: pd.DataFrame  # summary.summary_table
  issues: tuple[str, ...]

  @property
  def workloads(self) -> list[str]:
    return sorted(self.curves)


def series_label(runs: str, submission: str, study: str, num_trials: int) -> str:
  """The legend name of a group of trials: the submission's tuning trials, or one seed-rerun
  study of its best setting."""
  if runs == runs_lib.SEEDS:
    return f'{submission}: best setting x {num_trials} seeds ({study})'
  return submission


def with_series(frame: pd.DataFrame) -> pd.DataFrame:
  """Add the `series` column: tuning trials of a submission form one series, each
  seed-rerun study its own."""
  if frame.empty:
    return frame.assign(series=pd.Series(dtype=str))
  is_seeds = frame['runs'] == runs_lib.SEEDS
  study_key = frame['study'].where(is_seeds, '')
  sizes = frame.groupby([frame['submission'], frame['workload'], frame['experiment'],
                         study_key])['trial'].transform('size')
  labels = [series_label(r, s, st, n) for r, s, st, n in zip(
      frame['runs'], frame['submission'], frame['study'], sizes, strict=True)]
  return frame.assign(series=labels)


def workload_curves(evals: pd.DataFrame, target: WorkloadTarget,
                    num_points: int) -> pd.DataFrame:
  """Median/IQR curves of every series of one workload, train and validation."""
  columns = [f'{split}/{name}' for name in figures.quantities(target)
             for split in ('train', 'validation')]
  frames = [curves_lib.group_curves(rows, columns, num_points).assign(series=series)
            for series, rows in evals.groupby('series', sort=False)]
  order = ['series', 'x_axis', 'column'] + curves_lib.CURVE_COLUMNS
  return pd.concat(frames, ignore_index=True)[order] if frames else pd.DataFrame(columns=order)


def analyze_directory(directory: str, options: AnalysisOptions | None = None
                      ) -> AnalysisResult:
  """Read every trial under `directory` (a root of experiment folders, or one experiment
  folder) and compute the curves, per-trial outcomes and the summary table."""
  options = options or AnalysisOptions()
  options.check()
  issues = Issues(options.strict)
  runs = runs_lib.read_runs(directory, issues, options.exclude_submissions, options.workloads)
  targets = workload_targets.resolve(runs.trials, options.targets, options.ruleset, issues)
  outcomes = with_series(results.trial_outcomes(runs, targets, options.enforce_budget, issues))
  curves = {}
  if not outcomes.empty:
    keys = ['submission', 'workload', 'experiment', 'study', 'trial']
    evals = runs.evals.join(outcomes.set_index(keys)['series'], on=keys, how='inner')
    curves = {workload: workload_curves(rows, targets[workload], options.num_points)
              for workload, rows in evals.groupby('workload', sort=True)}
  return AnalysisResult(
      directory=directory, options=options, targets=targets, runs=runs, outcomes=outcomes,
      curves=curves, summary=summary.summary_table(outcomes, targets),
      issues=tuple(issues.messages))
