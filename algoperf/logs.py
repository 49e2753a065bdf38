"""The experiment layout and its writers (docs/runner_rules.md rule 7), readable by AlgoPerf's scorer.

    <experiment_dir>/<experiment_name>/study_<k>/<workload>_jax/trial_<i>/
        hparams.json  meta_data_<p>.json  flags_<p>.json  measurements.csv
        eval_measurements.csv  trial_summary.json  checkpoints/

CSV rows are appended and flushed one at a time, so a killed run loses at most the row
in flight. A row that brings a new column rewrites the file once, atomically.

I/O faults (a full disk, a file-size limit) leave every file as it was before the failed
write and raise the OSError unchanged, so the caller can report it and a later write, once
space is freed, continues a well-formed file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import secrets
import socket
import subprocess
import sys
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
# Eval-row columns of a trial whose `prepare_for_eval` returned an ensemble: members and
# the bytes their params and states take beyond one model's (docs/ensembles.md). The
# scorer puts such trials in the ensemble category, never in the AlgoPerf-rules score.
ENSEMBLE_MEMBERS = 'ensemble_members'
ENSEMBLE_EXTRA_BYTES = 'ensemble_extra_bytes'
RUNNER_COLUMNS = LEADING_COLUMNS + (ENSEMBLE_MEMBERS, ENSEMBLE_EXTRA_BYTES)
# ... and the eval metrics of the ensemble's last member alone, e.g. 'last_member/validation/loss'.
LAST_MEMBER_PREFIX = 'last_member/'


def study_dir(experiment_dir: str, experiment_name: str, study_index: int) -> str:
  return os.path.join(experiment_dir, experiment_name, f'study_{study_index}')


def trial_dir(experiment_dir: str, experiment_name: str, study_index: int, workload_name: str,
              trial_index: int) -> str:
  return os.path.join(study_dir(experiment_dir, experiment_name, study_index),
                      f'{workload_name}_{FRAMEWORK}', f'trial_{trial_index}')


def write_json(path: str, obj: Any) -> None:
  """Write JSON atomically (temp file + rename): readers never see half a file."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default)
  _replace_with(path, text.encode('utf-8'))


def write_bytes(path: str, data: bytes) -> None:
  """Write a binary file atomically (temp file + rename), like `write_json`."""
  _replace_with(path, data)


def _create_temp(path: str) -> tuple[str, int]:
  """Create a fresh temp file beside `path`; return its name and a write-only descriptor.

  Mode 0o666 lets the kernel apply the process umask (and any default ACL) at creation,
  exactly as a plain `open(path, 'w')` would, so the umask is never read: reading it with
  os.umask(0) and restoring it would race other threads creating files. (tempfile's
  files are 0600, which hid the logs from other users of a shared experiment dir.)
  """
  directory, name = os.path.split(path)
  flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_CLOEXEC', 0)
  while True:
    temp = os.path.join(directory, f'.{name}.{secrets.token_hex(6)}.tmp')
    try:
      return temp, os.open(temp, flags, 0o666)
    except FileExistsError:
      continue


def _write_all(fd: int, data: bytes) -> None:
  """os.write may write less than asked (a nearly full disk); loop until all is written."""
  view = memoryview(data)
  while view:
    view = view[os.write(fd, view):]


def _replace_with(path: str, data: bytes) -> None:
  """Atomically make `data` the content of `path`; on any failure remove the temp file."""
  temp, fd = _create_temp(path)
  try:
    try:
      _write_all(fd, data)
      os.fsync(fd)
    finally:
      os.close(fd)
    os.replace(temp, path)
  except BaseException:
    _remove_quietly(temp)
    raise


def _remove_quietly(path: str) -> None:
  try:
    os.remove(path)
  except OSError:
    pass


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


def _csv_text(rows: list[list[str]]) -> bytes:
  """Format rows fully in memory, so a file write is all-or-nothing, never a half row."""
  buffer = io.StringIO(newline='')
  csv.writer(buffer).writerows(rows)
  return buffer.getvalue().encode('utf-8')


def _append_atomically(path: str, data: bytes) -> None:
  """Append `data` in one write; if it fails, cut the file back to its old length."""
  fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0),
               0o666)
  try:
    size = os.fstat(fd).st_size
    try:
      _write_all(fd, data)
    except BaseException as error:
      _truncate(fd, size, error)
      raise
  finally:
    os.close(fd)


def _truncate(fd: int, size: int, error: BaseException) -> None:
  """Drop a partly written row; if even that fails, say so on the original error."""
  try:
    os.ftruncate(fd, size)
  except OSError as cleanup_error:
    error.add_note(f'could not remove the partial row: {cleanup_error}')


class CsvAppender:
  """An append-only CSV whose header grows when a row brings new columns."""

  def __init__(self, path: str):
    self.path = path
    self.columns: list[str] = []
    if os.path.exists(path) and os.path.getsize(path):
      with open(path, newline='', encoding='utf-8') as f:
        self.columns = next(csv.reader(f), [])

  def append(self, row: Mapping[str, Any]) -> None:
    """Write the whole row or, on an OSError, leave the file exactly as it was."""
    new = [k for k in row if k not in self.columns]
    if new:
      # The header and the row land in one atomic rewrite, so a failure leaves neither.
      columns = self._order(self.columns + new)
      self._rewrite_with_columns(columns, self._rows() + [
          {c: _cell(row.get(c)) for c in columns}])
      return
    _append_atomically(self.path, _csv_text([[_cell(row.get(c)) for c in self.columns]]))

  @staticmethod
  def _order(columns: list[str]) -> list[str]:
    leading = [c for c in LEADING_COLUMNS if c in columns]
    return leading + sorted(c for c in columns if c not in LEADING_COLUMNS)

  def _rows(self) -> list[dict[str, str]]:
    if not os.path.exists(self.path):
      return []
    with open(self.path, newline='', encoding='utf-8') as f:
      return list(csv.DictReader(f))

  def _rewrite_with_columns(self, columns: list[str], rows=None) -> None:
    """Rewrite the file under a new header; on failure the original stays intact."""
    rows = self._rows() if rows is None else rows
    text = _csv_text([columns] + [[r.get(c, '') for c in columns] for r in rows])
    _replace_with(self.path, text)
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
      # How busy the machine was when the trial (or this attempt of it) started.
      'load_average': list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
      'device_kind': devices[0].device_kind,
      'num_devices': len(devices),
      'git_commit': _git_commit(),
  }


class LogWriteError(OSError):
  """The runner could not write its own logs (disk full, permissions): an I/O fault of the
  machine, reported as such and never blamed on the submission."""
