"""Read an experiment tree into one row per trial and one row per eval, every column kept.

The scorer's reader keeps only the target metric of workloads listed in a targets file.
Analysis needs more: train and validation metric and loss, the trial's hyperparameters,
seed and status, and workloads no targets file lists (their target comes from
`meta_data_<p>.json`). The folder walk is the scorer's (`reader.experiment_roots`, the same
folder patterns and natural order), so both see the same trials:

  <directory>/<experiment_name>/[<experiment>/]study_<k>/<workload>_<framework>/trial_<i>/

`<directory>` may also be one experiment folder (it holds `study_<k>` folders itself).
A workload folder holding `seed_rerun.json` was written by `rerun.rerun_best_seeds`; its
trials are tagged `runs='seeds'`, every other trial `runs='tuning'`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np
import pandas as pd

from algoperf.scoring import reader
from algoperf.scoring.issues import Issues

# File names of algoperf.logs, not imported from there: that module pulls in JAX, which
# reading logs does not need (the scorer's reader does the same).
TRIAL_SUMMARY = 'trial_summary.json'
HPARAMS = 'hparams.json'
SEED_RERUN_FILE = 'seed_rerun.json'
TUNING, SEEDS = 'tuning', 'seeds'
TRIAL_KEYS = ['submission', 'workload', 'framework', 'experiment', 'study', 'trial']
META_RE = re.compile(r'meta_data_(\d+)\.json$')
# meta_data fields that say what a trial aimed at, when no targets file lists its workload.
META_FIELDS = ('target_metric_name', 'target_metric_higher_is_better', 'validation_target_value',
               'test_target_value', 'budget_sec')


@dataclasses.dataclass(frozen=True)
class Runs:
  """Everything read from a tree.

  `trials`: TRIAL_KEYS, runs, path, seed, status, hparams (dict), meta (dict of META_FIELDS).
  `evals`: TRIAL_KEYS, runs, eval_index, global_step, score, accumulated_submission_time,
  preemption_count and every other numeric column of the eval file (`train/loss`, ...).
  """
  trials: pd.DataFrame
  evals: pd.DataFrame


def _subdirs(path: str) -> list[str]:
  return sorted((d for d in os.listdir(path)
                 if not d.startswith('.') and os.path.isdir(os.path.join(path, d))),
                key=reader.natural_key)


def _read_json(path: str, issues: Issues) -> dict | None:
  if not os.path.isfile(path):
    return None
  try:
    with open(path) as f:
      value = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
    issues.warn(f'{path}: unreadable JSON ({e}); ignored')
    return None
  if value is not None and not isinstance(value, dict):
    issues.warn(f'{path}: expected a JSON object; ignored')
    return None
  return value


def first_meta_data(trial_path: str, issues: Issues) -> dict:
  """meta_data_<p>.json with the lowest p (the trial's first start), or {}."""
  names = sorted((n for n in os.listdir(trial_path) if META_RE.match(n)),
                 key=lambda n: int(META_RE.match(n).group(1)))
  return (_read_json(os.path.join(trial_path, names[0]), issues) or {}) if names else {}


def read_eval_rows(path: str, issues: Issues) -> pd.DataFrame | None:
  """The numeric eval rows of one trial in time order, or None after a warning."""
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
  if frame.empty:
    issues.warn(f'{path}: header but no eval rows; trial skipped')
    return None
  if 'score' not in frame and 'accumulated_submission_time' not in frame:
    issues.warn(f'{path}: neither score nor accumulated_submission_time column; trial skipped')
    return None
  numeric = frame.apply(pd.to_numeric, errors='coerce').astype(float)
  coerced = [c for c in frame.columns if (numeric[c].isna() & frame[c].notna()).any()]
  if coerced:
    issues.warn(f'{path}: non-numeric values in columns {coerced} read as NaN')
  frame = numeric
  time_column = 'score' if 'score' in frame else 'accumulated_submission_time'
  frame['score'] = frame[time_column]
  frame['accumulated_submission_time'] = frame.get('accumulated_submission_time', frame['score'])
  frame = frame[frame['score'].notna()]
  if frame.empty:
    issues.warn(f'{path}: no row has a submission time; trial skipped')
    return None
  if not frame['score'].is_monotonic_increasing:
    issues.warn(f'{path}: score is not non-decreasing down the file; rows sorted by score')
    frame = frame.sort_values('score', kind='stable')
  for column, default in (('global_step', np.nan), ('preemption_count', 0.0)):
    if column not in frame:
      frame[column] = default
  return frame.reset_index(drop=True).rename_axis('eval_index').reset_index()


def read_trial(path: str, keys: dict, issues: Issues) -> tuple[dict, pd.DataFrame] | None:
  """(trial row, eval rows) of one trial folder, or None when it has no readable evals."""
  rows = read_eval_rows(os.path.join(path, reader.EVAL_FILE), issues)
  if rows is None:
    return None
  meta = first_meta_data(path, issues)
  summary = _read_json(os.path.join(path, TRIAL_SUMMARY), issues) or {}
  hparams = _read_json(os.path.join(path, HPARAMS), issues) or {}
  trial = {**keys, 'path': path, 'seed': meta.get('rng_seed'),
           'status': summary.get('status', 'unfinished'), 'hparams': hparams,
           'meta': {k: meta[k] for k in META_FIELDS if k in meta}}
  evals = rows.assign(**{k: keys[k] for k in TRIAL_KEYS + ['runs']})
  return trial, evals


def read_workload_dir(path: str, keys: dict, issues: Issues) -> list[tuple[dict, pd.DataFrame]]:
  """Every readable trial of one `<workload>_<framework>` folder of a study."""
  runs = SEEDS if os.path.isfile(os.path.join(path, SEED_RERUN_FILE)) else TUNING
  trials = [d for d in _subdirs(path) if reader.TRIAL_RE.match(d)]
  if not trials:
    issues.warn(f'{path}: no trial_<i> folders')
  read = (read_trial(os.path.join(path, t), {**keys, 'trial': t, 'runs': runs}, issues)
          for t in trials)
  return [r for r in read if r is not None]


def workload_dir_keys(path: str) -> dict | None:
  """workload and framework from a `<workload>_<framework>` folder name, else None."""
  match = reader.WORKLOAD_RE.match(os.path.basename(os.path.normpath(path)))
  return None if match is None else dict(zip(('workload', 'framework'), match.groups(),
                                             strict=True))


def _read_submission(path: str, name: str, issues: Issues) -> list[tuple[dict, pd.DataFrame]]:
  found = []
  for root in reader.experiment_roots(path, issues):
    experiment = os.path.relpath(root, path)
    for study in (d for d in _subdirs(root) if reader.STUDY_RE.match(d)):
      for folder in _subdirs(os.path.join(root, study)):
        folder_path = os.path.join(root, study, folder)
        keys = workload_dir_keys(folder_path)
        if keys is None:
          issues.warn(f'{folder_path}: not a <workload>_<jax|pytorch> folder; ignored')
          continue
        keys.update(submission=name, experiment=experiment, study=study)
        found.extend(read_workload_dir(folder_path, keys, issues))
  return found


def is_experiment_folder(path: str) -> bool:
  """True when `path` holds `study_<k>` folders itself (one experiment, not a root of many)."""
  return any(reader.STUDY_RE.match(d) for d in _subdirs(path))


def read_runs(directory: str, issues: Issues | None = None, exclude=(),
              workloads=None) -> Runs:
  """Every trial under `directory`: a root of experiment folders, or one experiment folder.

  Each experiment folder is one submission (named after the folder), as for the scorer.
  `workloads`, when given, keeps only those workloads.
  """
  issues = issues or Issues()
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'{directory}: experiment directory does not exist')
  if is_experiment_folder(directory):
    name = os.path.basename(os.path.abspath(directory))
    found = _read_submission(directory, name, issues)
  else:
    names = reader.submission_names(directory, exclude)
    if not names:
      issues.warn(f'{directory}: no experiment folders')
    found = [r for n in names for r in _read_submission(os.path.join(directory, n), n, issues)]
  if workloads:
    found = [r for r in found if r[0]['workload'] in set(workloads)]
  return collect(found)


def collect(found: list[tuple[dict, pd.DataFrame]]) -> Runs:
  """`Runs` from the (trial row, eval rows) pairs of `read_trial`."""
  if not found:
    return Runs(pd.DataFrame(columns=TRIAL_KEYS + ['runs', 'path', 'seed', 'status', 'hparams',
                                                   'meta']),
                pd.DataFrame(columns=TRIAL_KEYS + ['runs', 'eval_index', 'global_step',
                                                   'score', 'accumulated_submission_time']))
  trials = pd.DataFrame.from_records([t for t, _ in found])
  evals = pd.concat([e for _, e in found], ignore_index=True)
  return Runs(trials, evals)
