"""Run one submission on every workload of a suite, resumably, then score it with baselines.

Layout under `experiment_dir` (a place where several submissions accumulate):

  <experiment_dir>/runs/<submission>/suite_run.json          what was asked, for resume
  <experiment_dir>/runs/<submission>/<benchmark_version>/study_<k>/<workload>_jax/trial_<i>/
  <experiment_dir>/leaderboard/                              every run here + baselines
  <experiment_dir>/leaderboard/analysis/                     curves, sensitivity, summary

`runs/` has the scorer's layout (one folder per submission), and so does a stored
baselines folder; the leaderboard scores both together. Re-running the same command
continues an interrupted run: finished trials are kept, an unfinished one resumes from its
last checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import logging
import math
import os
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from algoperf import analysis, experiment, logs, scoring, speed_compare, tuning
from algoperf.progress import format_duration
from algoperf.scoring.issues import Issues
from algoperf.suite import Suite, SuiteError

logger = logging.getLogger(__name__)

RUNS = 'runs'
LEADERBOARD = 'leaderboard'
ANALYSIS = 'analysis'
RUN_RECORD = 'suite_run.json'
BASELINE_SUFFIX = ' [baseline]'
# A stored baseline recorded on a machine of another speed than the set's (speed_compare).
OTHER_MACHINE_SUFFIX = f' [baseline {speed_compare.OTHER_MACHINE}]'
# Fields of a run that must not change when it is resumed.
_IDENTITY = ('suite', 'submission_path', 'tuning_ruleset', 'tuning_search_space',
             'num_tuning_trials', 'num_studies', 'rng_seed')


class SuiteRunError(SuiteError):
  """The suite run cannot start as asked (conflicting earlier run, bad workload, ...)."""


@dataclasses.dataclass(frozen=True)
class SuiteRunConfig:
  """One submission on (part of) a suite. None fields take the suite's default run."""
  submission_path: str
  experiment_dir: str
  submission_name: str | None = None
  tuning_ruleset: str | None = None
  tuning_search_space: str | None = None
  num_tuning_trials: int | None = None
  num_studies: int | None = None
  workloads: tuple[str, ...] = ()
  include_variants: bool = False
  rng_seed: int | None = None
  data_dir: str = ''
  max_global_steps: int | None = None
  save_checkpoints: bool = True
  overwrite: bool = False
  show_progress: bool | None = None
  isolate_trials: bool = True  # each trial in its own watched process (docs/reliability.md)
  legacy_pmap: str = 'auto'  # AlgoPerf v0.5's pmap calling convention (algoperf.legacy_pmap)
  instruments: Any = None  # InstrumentSettings (docs/instruments.md), or None

  @property
  def name(self) -> str:
    """The submission's label: given, else the folder holding its file."""
    if self.submission_name:
      return self.submission_name
    return os.path.basename(os.path.dirname(os.path.abspath(self.submission_path)))

  @property
  def submission_dir(self) -> str:
    return os.path.join(self.experiment_dir, RUNS, self.name)


@dataclasses.dataclass
class WorkloadRun:
  """How one workload of the suite went."""
  workload: str
  outcomes: list[experiment.TrialOutcome]
  error: str | None = None
  wall_sec: float = 0.0

  def time_to_target(self) -> float | None:
    """Median over studies of the best trial's time to the validation target.

    A study with no trial on target counts as infinitely slow (as AlgoPerf scores it), so
    the result is None only when at least half of the studies missed.
    """
    per_study: dict[int, float] = {}
    for o in self.outcomes:
      t = (o.summary or {}).get('time_to_validation_target')
      best = per_study.get(o.plan.study_index, math.inf)
      per_study[o.plan.study_index] = best if t is None else min(best, t)
    if not per_study:
      return None
    median = statistics.median(per_study.values())
    return None if math.isinf(median) else median


def resolved(config: SuiteRunConfig, suite: Suite) -> dict[str, Any]:
  """The run's settings with the suite's defaults filled in (also its resume record)."""
  defaults = suite.default_run
  ruleset = config.tuning_ruleset or defaults.get('tuning_ruleset', 'external')
  space = config.tuning_search_space
  if ruleset == 'external' and space is None:
    space = os.path.join(os.path.dirname(config.submission_path), 'tuning_search_space.json')
  return {
      'suite': suite.benchmark_version,
      'submission_path': os.path.abspath(config.submission_path),
      'tuning_ruleset': ruleset,
      'tuning_search_space': None if ruleset == 'self' else os.path.abspath(space),
      'num_tuning_trials': (1 if ruleset == 'self' else
                            config.num_tuning_trials or defaults.get('num_tuning_trials', 1)),
      'num_studies': config.num_studies or defaults.get('num_studies', 1),
      'rng_seed': config.rng_seed,
  }


def _check_workloads(suite: Suite, names: Sequence[str],
                     get_workload: Callable[[str], Any]) -> None:
  """The registered workloads must train to the targets and budgets the suite scores."""
  for name in names:
    entry, workload = suite.entry(name), get_workload(name)
    ours = (workload.target_metric_name, bool(workload.target_metric_higher_is_better),
            workload.validation_target_value, workload.test_target_value,
            workload.max_allowed_runtime_sec)
    theirs = (entry.metric, entry.higher_is_better, entry.validation_target,
              entry.test_target, entry.budget_sec)
    if ours != theirs:
      raise SuiteRunError(
          f'{suite.path}: workload {name!r} is defined as (metric, higher_is_better, '
          f'validation target, test target, budget) = {theirs}, but the registered workload '
          f'has {ours}.')


def _start_record(config: SuiteRunConfig, settings: dict[str, Any], names: list[str]
                  ) -> dict[str, Any]:
  """Write (or reuse) the run record; refuse to mix a different earlier run in."""
  path = os.path.join(config.submission_dir, RUN_RECORD)
  if os.path.exists(path) and config.overwrite:
    shutil.rmtree(config.submission_dir)
  if os.path.exists(path):
    record = logs.read_json(path)
    if settings['rng_seed'] is None:
      settings['rng_seed'] = record['rng_seed']
    changed = {k: (record.get(k), settings[k]) for k in _IDENTITY if record.get(k) != settings[k]}
    if changed:
      detail = '; '.join(f'{k}: {a!r} then, {b!r} now' for k, (a, b) in changed.items())
      raise SuiteRunError(
          f'{config.submission_dir} holds a different run ({detail}). Pass --overwrite to '
          'replace it, or choose another --experiment_dir or --submission_name.')
    record['workloads'] = list(dict.fromkeys(record['workloads'] + names))
    record['resumed'] = record.get('resumed', 0) + 1
  else:
    if settings['rng_seed'] is None:
      settings['rng_seed'] = tuning.random_base_seed()
    record = {**settings, 'workloads': names, 'resumed': 0}
  logs.write_json(path, record)
  return record


def check_submission_once(settings: dict[str, Any], isolated: bool) -> None:
  """The submission and its search space, checked before the first workload: a broken
  submission stops the suite with one message instead of failing on every workload."""
  experiment.check_submission(settings['submission_path'], isolated=isolated)
  if settings['tuning_search_space'] is not None:
    tuning.load_search_space(settings['tuning_search_space'])
  experiment.report_missing_hyperparameters(
      settings['submission_path'], settings['tuning_ruleset'], settings['tuning_search_space'])


def resume_line(config: SuiteRunConfig, record: dict[str, Any], names: Sequence[str]) -> str:
  """What a resumed run keeps and where it continues."""
  finished = interrupted = 0
  for summary in glob.glob(os.path.join(config.submission_dir, record['suite'], 'study_*',
                                        '*_jax', 'trial_*')):
    if os.path.basename(os.path.dirname(summary))[:-len('_jax')] not in names:
      continue
    if os.path.exists(os.path.join(summary, logs.TRIAL_SUMMARY)):
      finished += 1
    else:
      interrupted += 1
  return (f'Resuming the run in {config.submission_dir} (resume #{record["resumed"]}): '
          f'{finished} finished trial(s) are kept as they are; {interrupted} interrupted '
          'trial(s) continue from their last checkpoint; the rest start.')


def run_suite(suite: Suite, config: SuiteRunConfig, get_workload: Callable[[str], Any],
              base_workload_name: Callable[[str], str], print_fn=print,
              probe_fn: Callable[[list[str]], dict[str, Any] | None] | None = None
              ) -> list[WorkloadRun]:
  """Run the submission on each selected workload in turn; failures are recorded, not raised.

  Prints one line before each workload (position, trials, estimated time left) and the
  per-study verdicts after it. `probe_fn(names)` (speed_probe.probe) runs once the run can
  start; its probe is kept in the run record and sharpens the first estimates.
  """
  names = suite.select(list(config.workloads), config.include_variants)
  _check_workloads(suite, names, get_workload)
  settings = resolved(config, suite)
  check_submission_once(settings, config.isolate_trials)
  record = _start_record(config, settings, names)
  if record['resumed']:
    print_fn(resume_line(config, record, names))
  probe = probe_fn(names) if probe_fn else None
  if probe is not None:
    _record_probe(config, record, probe)
  trials = record['num_tuning_trials'] * record['num_studies']
  estimator = speed_compare.WallEstimator(trial_estimates(
      suite, names, get_workload, probe, record['tuning_ruleset']), trials)
  factor = tuning.budget_factor(record['tuning_ruleset'])
  suite_start = time.perf_counter()
  runs = []
  for position, name in enumerate(names, 1):
    budget = suite.entry(name).budget_sec * factor
    print_fn(f'[{position}/{len(names)}] {name}: {trials} trial(s) of at most {budget:.0f} s '
             f'of submission time (elapsed {format_duration(time.perf_counter() - suite_start)}'
             f'; {estimator.describe(names[position - 1:])})')
    runs.append(_run_workload(config, record, name, get_workload, base_workload_name))
    if runs[-1].error is None:
      estimator.finished(name, runs[-1].wall_sec)
    for line in (experiment.study_summary(runs[-1].outcomes) if runs[-1].error is None
                 else [f'FAILED: {runs[-1].error}']):
      print_fn(f'    {line}')
  return runs


def trial_estimates(suite: Suite, names: Sequence[str], get_workload: Callable[[str], Any],
                    probe: dict[str, Any] | None, ruleset: str = 'external') -> dict[str, float]:
  """Per workload, the wall seconds a trial takes at most (budget, set-up, compile, evals)."""
  factor = tuning.budget_factor(ruleset)
  return {n: speed_compare.trial_estimate(
      (probe or {}).get('workloads', {}).get(n), suite.entry(n).budget_sec * factor,
      get_workload(n).eval_period_time_sec) for n in names}


def _record_probe(config: SuiteRunConfig, record: dict[str, Any], probe: dict[str, Any]) -> None:
  """Each invocation's probe (with load average and CPU count) joins the run record."""
  record.setdefault('machine_probes', []).append(probe)
  logs.write_json(os.path.join(config.submission_dir, RUN_RECORD), record)


def _run_workload(config: SuiteRunConfig, record: dict[str, Any], name: str,
                  get_workload, base_workload_name) -> WorkloadRun:
  start = time.perf_counter()
  experiment_config = experiment.ExperimentConfig(
      submission_path=record['submission_path'], workload_name=name,
      experiment_dir=config.submission_dir, experiment_name=record['suite'],
      tuning_ruleset=record['tuning_ruleset'],
      tuning_search_space=record['tuning_search_space'],
      num_tuning_trials=record['num_tuning_trials'], num_studies=record['num_studies'],
      rng_seed=record['rng_seed'], data_dir=config.data_dir,
      max_global_steps=config.max_global_steps, save_checkpoints=config.save_checkpoints,
      resume_last_run=True, show_progress=config.show_progress,
      isolate_trials=config.isolate_trials, check_submission=False,
      legacy_pmap=config.legacy_pmap, instruments=config.instruments,
      flags={'suite': record['suite'], 'workload': name, **{
          k: record[k] for k in _IDENTITY if k != 'suite'}})
  try:
    outcomes = experiment.run_experiment(
        experiment_config, functools.partial(get_workload, name), base_workload_name(name))
  except Exception as e:  # A broken workload (e.g. missing data) must not stop the suite.
    logger.exception('workload %s failed', name)
    return WorkloadRun(name, [], f'{type(e).__name__}: {e}', time.perf_counter() - start)
  return WorkloadRun(name, outcomes, None, time.perf_counter() - start)


def move_workload_runs(source: str, destination: str, workloads: Sequence[str]) -> None:
  """Replace the logs of `workloads` in the submission folder `destination` with those of
  `source` (another run of the same submission and protocol), keeping its other workloads.

  Used to add workloads to stored baselines without rerunning the rest.
  """
  record = logs.read_json(os.path.join(destination, RUN_RECORD))
  for study in sorted(os.listdir(os.path.join(source, record['suite']))):
    for workload in workloads:
      folder = os.path.join(record['suite'], study, f'{workload}_{logs.FRAMEWORK}')
      old, new = os.path.join(destination, folder), os.path.join(source, folder)
      shutil.rmtree(old, ignore_errors=True)
      if os.path.isdir(new):
        os.makedirs(os.path.dirname(old), exist_ok=True)
        shutil.move(new, old)
  record['workloads'] = list(dict.fromkeys(record['workloads'] + list(workloads)))
  logs.write_json(os.path.join(destination, RUN_RECORD), record)


def summary_lines(suite: Suite, runs: Sequence[WorkloadRun]) -> list[str]:
  """A table: workload, target, time to target (or why not), wall time."""
  lines = [f'{"workload":<26} {"target":>22} {"time to target":>15} {"wall":>8}']
  for run in runs:
    target = suite.entry(run.workload).target_text
    if run.error is not None:
      verdict = 'failed'
    else:
      ttt = run.time_to_target()
      verdict = 'not reached' if ttt is None else f'{ttt:.1f} s'
    lines.append(f'{run.workload:<26} {target:>22} {verdict:>15} '
                 f'{format_duration(run.wall_sec):>8}')
  return lines


def read_evals(suite: Suite, runs_dir: str, baselines_dir: str | None,
               issues: Issues):
  """Eval rows of every submission in `runs_dir` and, labelled as such, in `baselines_dir`."""
  import pandas as pd

  frames, names = [], []
  if os.path.isdir(runs_dir):
    frames.append(scoring.read_submissions(runs_dir, suite.targets, issues))
    names += scoring.reader.submission_names(runs_dir)
  if baselines_dir:
    if not os.path.isdir(baselines_dir):
      issues.warn(f'{baselines_dir}: no stored baselines there; scored without them')
    else:
      baselines = scoring.read_submissions(baselines_dir, suite.targets, issues)
      reference = speed_compare.load_reference(baselines_dir)
      elsewhere = speed_compare.other_machines(reference) if reference else {}

      def label(name):
        return name + (OTHER_MACHINE_SUFFIX if name in elsewhere else BASELINE_SUFFIX)

      baselines['submission'] = baselines['submission'].map(label)
      frames.append(baselines)
      names += [label(n) for n in scoring.reader.submission_names(baselines_dir)]
  frames = [f for f in frames if not f.empty]
  evals = (pd.concat(frames, ignore_index=True) if frames
           else pd.DataFrame(columns=scoring.reader.COLUMNS))
  return evals, names


def score_suite(suite: Suite, experiment_dir: str, baselines_dir: str | None,
                ruleset: str = 'external', output_dir: str | None = None,
                analyse: bool = True, notices: Sequence[tuple[str, Sequence[str]]] = ()):
  """Score every run under `experiment_dir/runs` with the baselines; write the leaderboard.

  With `analyse`, the runs' learning curves, sensitivity plots and summary table go to
  `<leaderboard>/analysis/`, linked from the leaderboard page. Returns (ScoringResult,
  paths written). The leaderboard goes to `experiment_dir/leaderboard` unless `output_dir`
  is given. `notices` (title, lines) are boxed at the top of the page (machine speed).
  The runs under `runs/` (the user's, unlike the baselines) are highlighted.
  """
  issues = Issues(strict=False)
  runs_dir = os.path.join(experiment_dir, RUNS)
  evals, names = read_evals(suite, runs_dir, baselines_dir, issues)
  options = scoring.ScoringOptions(ruleset=ruleset)
  result = scoring.score_evals(evals, suite.targets, options, names, issues)
  output_dir = output_dir or os.path.join(experiment_dir, LEADERBOARD)
  links, written = [], []
  if analyse and os.path.isdir(runs_dir):
    analysis_dir = os.path.join(output_dir, ANALYSIS)
    files = analysis.analyze(runs_dir, analysis_dir, analysis.AnalysisOptions(
        targets=suite.targets, ruleset=ruleset))
    links = analysis.page_links(files, prefix=ANALYSIS)
    written += [os.path.join(analysis_dir, f) for f in files]
  written += scoring.write_report(result, output_dir, links=links, notices=notices,
                                  highlight=own_runs(names))
  return result, written


def own_runs(names: Sequence[str]) -> list[str]:
  """The submissions of a suite leaderboard that are the user's: all but the baselines."""
  return [n for n in names if not n.endswith((BASELINE_SUFFIX, OTHER_MACHINE_SUFFIX))]
