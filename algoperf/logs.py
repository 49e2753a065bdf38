"""The experiment layout and its writers (DESIGN rule 7), readable by AlgoPerf's scorer.

    <experiment_dir>/<experiment_name>/study_<k>/<workload>_jax/trial_<i>/
        hparams.json  meta_data_<p>.json  flags_<p>.json  measurements.csv
        eval_measurements.csv  trial_summary.json  checkpoints/

CSV rows are appended and flushed one at a time, so a killed run loses at most the row
in flight. A row that brings a new column rewrites the file once, atomically.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

import jax

FRAMEWORK = 'jax'
EVAL_MEASUREMENTS = 'eval_measurements.csv'
MEASUREMENTS = 'measurements.csv'
TRIAL_SUMMARY = 'trial_summary.json'
# AlgoPerf's leading columns, kept first so files diff cleanly against AlgoPerf's.
LEADING_COLUMNS = ('global_step', 'preemption_count', 'score', 'accumulated_submission_time',
                   'accumulated_eval_time', 'accumulated_logging_time', 'total_duration')


def study_dir(experiment_dir: str, experiment_name: str, study_index: int) -> str:
  return os.path.join(experiment_dir, experiment_name, f'study_{study_index}')


def trial_dir(experiment_dir: str, experiment_name: str, study_index: int, workload_name: str,
              trial_index: int) -> str:
  return os.path.join(study_dir(experiment_dir, experiment_name, study_index),
                      f'{workload_name}_{FRAMEWORK}', f'trial_{trial_index}')


def write_json(path: str, obj: Any) -> None:
  """Write JSON atomically (temp file + rename): readers never see half a file."""
  directory = os.path.dirname(path) or '.'
  os.makedirs(directory, exist_ok=True)
  with tempfile.NamedTemporaryFile('w', dir=directory, delete=False, suffix='.tmp') as f:
    json.dump(obj, f, indent=2, sort_keys=True, default=_json_default)
    f.flush()
    os.fsync(f.fileno())
  os.replace(f.name, path)


def read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)


def _json_default(obj):
  if hasattr(obj, 'item'):
    return obj.item()
  if hasattr(obj, 'tolist'):
    return obj.tolist()
  return str(obj)


def _cell(value) -> str:
  if value is None:
    return ''
  if hasattr(value, 'item'):
    value = value.item()
  if isinstance(value, float):
    return repr(value) if math.isfinite(value) else str(value)
  return str(value)


class CsvAppender:
  """An append-only CSV whose header grows when a row brings new columns."""

  def __init__(self, path: str):
    self.path = path
    self.columns: list[str] = []
    if os.path.exists(path) and os.path.getsize(path):
      with open(path, newline='') as f:
        self.columns = next(csv.reader(f), [])

  def append(self, row: Mapping[str, Any]) -> None:
    new = [k for k in row if k not in self.columns]
    if new:
      self._rewrite_with_columns(self._order(self.columns + new))
    with open(self.path, 'a', newline='') as f:
      csv.writer(f).writerow([_cell(row.get(c)) for c in self.columns])
      f.flush()

  @staticmethod
  def _order(columns: list[str]) -> list[str]:
    leading = [c for c in LEADING_COLUMNS if c in columns]
    return leading + sorted(c for c in columns if c not in LEADING_COLUMNS)

  def _rows(self) -> list[dict[str, str]]:
    if not os.path.exists(self.path):
      return []
    with open(self.path, newline='') as f:
      return list(csv.DictReader(f))

  def _rewrite_with_columns(self, columns: list[str], rows=None) -> None:
    rows = self._rows() if rows is None else rows
    directory = os.path.dirname(self.path) or '.'
    with tempfile.NamedTemporaryFile('w', dir=directory, delete=False, newline='',
                                     suffix='.tmp') as f:
      writer = csv.writer(f)
      writer.writerow(columns)
      for r in rows:
        writer.writerow([r.get(c, '') for c in columns])
      f.flush()
      os.fsync(f.fileno())
    os.replace(f.name, self.path)
    self.columns = columns

  def drop_rows_after_step(self, global_step: int) -> int:
    """Remove rows logged after `global_step` (work a resumed run will redo); return count."""
    rows = self._rows()
    kept = [r for r in rows if not r.get('global_step') or int(r['global_step']) <= global_step]
    if len(kept) != len(rows):
      self._rewrite_with_columns(self.columns, kept)
    return len(rows) - len(kept)


class MetricsLogger:
  """AlgoPerf's `workload.metrics_logger`: scalar rows into measurements CSVs."""

  def __init__(self, log_dir: str):
    os.makedirs(log_dir, exist_ok=True)
    self.log_dir = log_dir
    self._all = CsvAppender(os.path.join(log_dir, MEASUREMENTS))
    self._eval = CsvAppender(os.path.join(log_dir, EVAL_MEASUREMENTS))

  def append_scalar_metrics(self, metrics: Mapping[str, Any], global_step: int,
                            preemption_count: int | None = None, is_eval: bool = False) -> None:
    row = {'global_step': global_step, **metrics}
    if preemption_count is not None:
      row['preemption_count'] = preemption_count
    self._all.append(row)
    if is_eval:
      self._eval.append(row)

  def drop_rows_after_step(self, global_step: int) -> None:
    self._all.drop_rows_after_step(global_step)
    self._eval.drop_rows_after_step(global_step)

  def finish(self) -> None:
    """Nothing is buffered; kept for AlgoPerf API compatibility."""


def _git_commit() -> str | None:
  try:
    out = subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.abspath(__file__)), timeout=5)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip() or None


def meta_data(**trial_facts) -> dict[str, Any]:
  """What a reader needs to reproduce the trial: the machine, software and trial facts."""
  devices = jax.devices()
  return {
      **trial_facts,
      'framework': FRAMEWORK,
      'jax_version': jax.__version__,
      'python_version': sys.version.split()[0],
      'platform': platform.platform(),
      'hostname': socket.gethostname(),
      'cpu_count': os.cpu_count(),
      'device_kind': devices[0].device_kind,
      'num_devices': len(devices),
      'git_commit': _git_commit(),
  }
