"""Read a tree of AlgoPerf-layout logs into one long table of eval rows.

Layout (DESIGN.md rule 7, identical to AlgoPerf):

  <directory>/<submission>/[<experiment>[-YYYY-MM-DD-HH-MM-SS]/]study_<k>/
      <workload>_<framework>/trial_<i>/eval_measurements.csv

One row per eval with columns `submission, workload, framework, experiment, study, trial,
eval_index, global_step, preemption_count, score, validation, test`; `validation`/`test` hold
the workload's target metric on that split, so every workload shares one schema.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from algoperf.scoring.issues import Issues
from algoperf.scoring.targets import BenchmarkTargets, WorkloadTarget

EVAL_FILE = 'eval_measurements.csv'
STUDY_RE = re.compile(r'study_(\d+)$')
TRIAL_RE = re.compile(r'trial_(\d+)$')
WORKLOAD_RE = re.compile(r'(.+)_(jax|pytorch)$')
TRIAL_KEYS = ['submission', 'workload', 'study', 'experiment', 'trial']
COLUMNS = ['submission', 'workload', 'framework', 'experiment', 'study', 'trial', 'eval_index',
           'global_step', 'preemption_count', 'score', 'validation', 'test']


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


def read_eval_file(path: str, target: WorkloadTarget, issues: Issues) -> pd.DataFrame | None:
  """The eval rows of one trial (score, validation, test, ...), or None after a warning."""
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
  rows = pd.DataFrame({
      'global_step': (_numeric(frame, 'global_step', path, issues)
                      if 'global_step' in frame else np.nan),
      'preemption_count': (_numeric(frame, 'preemption_count', path, issues)
                           if 'preemption_count' in frame else 0.0),
      'score': _numeric(frame, 'score', path, issues),
      'validation': _numeric(frame, target.column('validation'), path, issues),
      'test': (_numeric(frame, target.column('test'), path, issues)
               if target.column('test') in frame else np.nan),
  })
  if rows['score'].isna().any():
    issues.warn(f'{path}: {int(rows["score"].isna().sum())} rows without a score dropped')
    rows = rows[rows['score'].notna()]
    if rows.empty:
      return None
  if not rows['score'].is_monotonic_increasing:
    issues.warn(f'{path}: score is not non-decreasing down the file; rows sorted by score')
    rows = rows.sort_values('score', kind='stable')
  return rows.reset_index(drop=True).rename_axis('eval_index').reset_index()


def _read_workload_dir(path: str, target: WorkloadTarget, keys: dict, issues: Issues):
  trials = [d for d in _subdirs(path) if TRIAL_RE.match(d)]
  if not trials:
    issues.warn(f'{path}: no trial_<i> folders')
  for trial in trials:
    rows = read_eval_file(os.path.join(path, trial, EVAL_FILE), target, issues)
    if rows is not None:
      yield rows.assign(**keys, trial=trial)


def read_submission(submission_path: str, targets: BenchmarkTargets, issues: Issues,
                    name: str | None = None) -> pd.DataFrame:
  """All eval rows of one submission folder."""
  name = name or os.path.basename(os.path.normpath(submission_path))
  frames = []
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
        frames.extend(_read_workload_dir(path, targets.workloads[workload], keys, issues))
  if not frames:
    return pd.DataFrame(columns=COLUMNS)
  return pd.concat(frames, ignore_index=True)[COLUMNS]


def submission_names(directory: str, exclude=()) -> list[str]:
  """The submission folders in `directory`, in natural order, minus `exclude`."""
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'{directory}: submission directory does not exist')
  return [d for d in _subdirs(directory) if d not in set(exclude)]


def read_submissions(directory: str, targets: BenchmarkTargets, issues: Issues,
                     exclude=()) -> pd.DataFrame:
  """All eval rows of every submission folder in `directory`."""
  names = submission_names(directory, exclude)
  if not names:
    issues.warn(f'{directory}: no submission folders')
  frames = [read_submission(os.path.join(directory, n), targets, issues, n) for n in names]
  frames = [f for f in frames if not f.empty]
  if not frames:
    return pd.DataFrame(columns=COLUMNS)
  return pd.concat(frames, ignore_index=True)
