"""Read a tree of AlgoPerf-layout logs into one long table of eval rows.

Layout (docs/runner_rules.md rule 7, identical to AlgoPerf):

  <directory>/<submission>/[<experiment>[-YYYY-MM-DD-HH-MM-SS]/]study_<k>/
      <workload>_<framework>/trial_<i>/eval_measurements.csv

One row per eval with columns `submission, workload, framework, experiment, study, trial,
eval_index, global_step, preemption_count, score, validation, test, ensemble_members,
ensemble_extra_bytes`; `validation`/`test` hold the workload's target metric on that split, so
every workload shares one schema, and the ensemble columns are 0 unless that eval evaluated
an ensemble (the scorer's separate category, docs/ensembles.md). Trials whose
logs break a rule of `integrity` (cut-short rows, non-finite metrics, times going backwards,
links, duplicates) are reported and left out.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
import pandas as pd

from algoperf.scoring import integrity
from algoperf.scoring.issues import Corruption, Issues
from algoperf.scoring.targets import BenchmarkTargets, WorkloadTarget

EVAL_FILE = 'eval_measurements.csv'
STUDY_RE = re.compile(r'study_(\d+)$')
TRIAL_RE = re.compile(r'trial_(\d+)$')
WORKLOAD_RE = re.compile(r'(.+)_(jax|pytorch)$')
TRIAL_KEYS = ['submission', 'workload', 'study', 'experiment', 'trial']
COLUMNS = ['submission', 'workload', 'framework', 'experiment', 'study', 'trial', 'eval_index',
           'global_step', 'preemption_count', 'score', 'validation', 'test',
           'ensemble_members', 'ensemble_extra_bytes']
# Set (0 or more) only on evals of an ensemble (docs/ensembles.md); 0 for ordinary evals.
ENSEMBLE_COLUMNS = ('ensemble_members', 'ensemble_extra_bytes')


def natural_key(name: str):
  """Sort `trial_10` after `trial_9`."""
  return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', name)]


def _subdirs(path: str) -> list[str]:
  return sorted((d for d in os.listdir(path)
                 if not d.startswith('.') and os.path.isdir(os.path.join(path, d))),
                key=natural_key)


def _has_studies(path: str) -> bool:
  return any(STUDY_RE.match(d) for d in _subdirs(path))


def experiment_roots(submission_path: str, issues: Issues) -> list[str]:
  """The folders holding `study_<k>`: the submission folder and/or its experiment folders."""
  roots = [submission_path] if _has_studies(submission_path) else []
  for name in _subdirs(submission_path):
    path = os.path.join(submission_path, name)
    if STUDY_RE.match(name):
      continue
    if _has_studies(path):
      roots.append(path)
    else:
      issues.warn(f'{path}: neither a study_<k> folder nor an experiment folder holding one; '
                  'ignored')
  if not roots:
    issues.warn(f'{submission_path}: no study_<k> folders found; submission has no runs')
  return roots


def _numeric(frame: pd.DataFrame, column: str, path: str, issues: Issues) -> pd.Series:
  raw = frame[column]
  values = pd.to_numeric(raw, errors='coerce')
  if (values.isna() & raw.notna()).any():
    issues.warn(f'{path}: non-numeric values in column {column!r} read as NaN')
  return values.astype(float)


def load_eval_csv(path: str, target: WorkloadTarget, issues: Issues) -> pd.DataFrame | None:
  """The parsed file, or None after a warning when it is missing, empty or unusable."""
  if not os.path.isfile(path):
    issues.warn(f'{path}: missing; trial skipped')
    return None
  if os.path.getsize(path) == 0:
    issues.warn(f'{path}: empty file; trial skipped')
    return None
  try:
    frame = pd.read_csv(path)
  except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
    issues.warn(f'{path}: malformed CSV ({type(e).__name__}: {e}); trial skipped')
    return None
  required = ['score', target.column('validation')]
  missing = [c for c in required if c not in frame.columns]
  if missing:
    issues.warn(f'{path}: missing required columns {missing}; trial skipped')
    return None
  if frame.empty:
    issues.warn(f'{path}: header but no eval rows; trial skipped')
    return None
  return frame


def eval_rows(frame: pd.DataFrame, path: str, target: WorkloadTarget,
              issues: Issues) -> pd.DataFrame | None:
  """The scored columns of a file that passed the integrity rules (so `score` never falls)."""
  rows = pd.DataFrame({
      'global_step': (_numeric(frame, 'global_step', path, issues)
                      if 'global_step' in frame else np.nan),
      'preemption_count': (_numeric(frame, 'preemption_count', path, issues)
                           if 'preemption_count' in frame else 0.0),
      'score': _numeric(frame, 'score', path, issues),
      'validation': _numeric(frame, target.column('validation'), path, issues),
      'test': (_numeric(frame, target.column('test'), path, issues)
               if target.column('test') in frame else np.nan),
      **{column: (_numeric(frame, column, path, issues).fillna(0.0) if column in frame
                  else 0.0) for column in ENSEMBLE_COLUMNS},
  })
  if rows['score'].isna().any():
    issues.warn(f'{path}: {int(rows["score"].isna().sum())} rows without a score dropped')
    rows = rows[rows['score'].notna()]
    if rows.empty:
      return None
  return rows.reset_index(drop=True).rename_axis('eval_index').reset_index()


def read_eval_file(path: str, target: WorkloadTarget, issues: Issues,
                   keys: dict | None = None) -> pd.DataFrame | None:
  """The eval rows of one trial (score, validation, test, ...), or None after a warning, or
  after reporting the trial (named by `keys`) as corrupt."""
  frame = load_eval_csv(path, target, issues)
  if frame is None:
    return None
  problems = integrity.row_problems(path, target)
  if problems:
    issues.exclude_trial(keys or {}, os.path.dirname(path), problems)
    return None
  return eval_rows(frame, path, target, issues)


@dataclasses.dataclass(frozen=True)
class TrialFolder:
  """One trial_<i> folder of the tree, with the keys its rows carry."""
  keys: dict  # submission, workload, framework, experiment, study, trial
  path: str
  target: WorkloadTarget

  @property
  def eval_path(self) -> str:
    return os.path.join(self.path, EVAL_FILE)


def _trial_names(path: str) -> list[str]:
  """trial_<i> entries, links included (even dangling ones) so that none is skipped silently."""
  return sorted((d for d in os.listdir(path) if TRIAL_RE.match(d)
                 and (os.path.isdir(os.path.join(path, d))
                      or os.path.islink(os.path.join(path, d)))), key=natural_key)


def _workload_trials(path: str, target: WorkloadTarget, keys: dict,
                     issues: Issues) -> list[TrialFolder]:
  trials = _trial_names(path)
  if not trials:
    issues.warn(f'{path}: no trial_<i> folders')
  return [TrialFolder({**keys, 'trial': t}, os.path.join(path, t), target) for t in trials]


def trial_folders(submission_path: str, targets: BenchmarkTargets, issues: Issues,
                  name: str) -> list[TrialFolder]:
  """Every trial folder of one submission, warning about folders that do not fit the layout."""
  found = []
  for root in experiment_roots(submission_path, issues):
    experiment = os.path.relpath(root, submission_path)
    for study in (d for d in _subdirs(root) if STUDY_RE.match(d)):
      study_path = os.path.join(root, study)
      for folder in _subdirs(study_path):
        match = WORKLOAD_RE.match(folder)
        path = os.path.join(study_path, folder)
        if not match:
          issues.warn(f'{path}: not a <workload>_<jax|pytorch> folder; ignored')
          continue
        workload, framework = match.groups()
        if workload not in targets.workloads:
          issues.warn(f'{path}: workload {workload!r} is not in the targets file '
                      f'{targets.source}; ignored')
          continue
        keys = dict(submission=name, workload=workload, framework=framework,
                    experiment=experiment, study=study)
        found += _workload_trials(path, targets.workloads[workload], keys, issues)
  return found


def folder_problems(folders: list[TrialFolder]) -> dict[str, list[Corruption]]:
  """Per trial path, the rules broken by the folder itself: a link, or a repeat of an earlier
  trial of the same study (studies merge across experiment folders, so duplicates may too)."""
  problems = {f.path: integrity.symlink_problems(f.path, f.eval_path)
              + integrity.void_trial(f.path) for f in folders}
  studies: dict[tuple, list[str]] = {}
  for f in folders:
    if not problems[f.path]:
      studies.setdefault((f.keys['workload'], f.keys['study']), []).append(f.path)
  for paths in studies.values():
    for path, problem in integrity.duplicates(paths, EVAL_FILE).items():
      problems[path].append(problem)
  return problems


def _read_submission(submission_path: str, targets: BenchmarkTargets, issues: Issues,
                     name: str) -> list[pd.DataFrame]:
  folders = trial_folders(submission_path, targets, issues, name)
  problems = folder_problems(folders)
  frames = []
  for folder in folders:
    if problems[folder.path]:
      issues.exclude_trial(folder.keys, folder.path, problems[folder.path])
      continue
    rows = read_eval_file(folder.eval_path, folder.target, issues, folder.keys)
    if rows is not None:
      frames.append(rows.assign(**folder.keys))
  return frames


def _table(frames: list[pd.DataFrame]) -> pd.DataFrame:
  frames = [f for f in frames if not f.empty]
  if not frames:
    return pd.DataFrame(columns=COLUMNS)
  return pd.concat(frames, ignore_index=True)[COLUMNS]


def read_submission(submission_path: str, targets: BenchmarkTargets, issues: Issues,
                    name: str | None = None) -> pd.DataFrame:
  """All eval rows of one submission folder, corrupt trials left out (refused under strict)."""
  name = name or os.path.basename(os.path.normpath(submission_path))
  frames = _read_submission(submission_path, targets, issues, name)
  issues.refuse_corrupt()
  return _table(frames)


def submission_names(directory: str, exclude=()) -> list[str]:
  """The submission folders in `directory`, in natural order, minus `exclude`."""
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'{directory}: submission directory does not exist')
  return [d for d in _subdirs(directory) if d not in set(exclude)]


def read_submissions(directory: str, targets: BenchmarkTargets, issues: Issues,
                     exclude=()) -> pd.DataFrame:
  """All eval rows of every submission folder in `directory`, corrupt trials left out; under
  strict, one error lists the corrupt trials of every submission."""
  names = submission_names(directory, exclude)
  if not names:
    issues.warn(f'{directory}: no submission folders')
  frames = [f for n in names for f in _read_submission(os.path.join(directory, n), targets,
                                                       issues, n)]
  issues.refuse_corrupt()
  return _table(frames)
