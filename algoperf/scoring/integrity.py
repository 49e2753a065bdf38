"""Rules a trial's logs must follow before the scorer trusts them (docs/scoring.md, "Corrupt logs").

AlgoPerf's runner and this project's runner both obey every rule, so a clean log never breaks
one; a trial that does is corrupt: a write cut short, an edited or copied file. Rules:

  short_row          a row with fewer cells than the header, or a last row with no line end
  non_finite_metric  nan/inf/-inf in a target metric column, except a diverged run's tail
  negative_time      a negative global_step, score or accumulated_submission_time
  time_decreases     one of those going back from one row to the next
  score_mismatch     score != accumulated_submission_time (the runners write the same value)
  symlink            a trial folder or eval file that is a symbolic link
  duplicate          a trial repeating another of its study: same file bytes, or same seed
                     and hyperparameters
  void_trial         the runner declared the trial's results void (trial_summary.json
                     status clock_mismatch: its recorded time is below what was measured)

Rows are data rows numbered from 1 (row k is line k + 1 of a file without blank lines).
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from algoperf.scoring.issues import Corruption
from algoperf.scoring.targets import WorkloadTarget

TIME_COLUMNS = ('global_step', 'score', 'accumulated_submission_time')
NAN_TEXT = ('nan', '+nan', '-nan')
# The runners write score and accumulated_submission_time from one float; allow round-off.
SCORE_RTOL, SCORE_ATOL = 1e-9, 1e-6


@dataclasses.dataclass(frozen=True)
class Cells:
  """An eval file as raw text cells, so cut-short rows and written `nan`s stay visible
  (pandas pads short rows and reads `nan` and an empty cell alike)."""
  path: str
  header: list[str]
  rows: list[list[str]]
  terminated: bool  # the file ends with a line end

  def has(self, column: str) -> bool:
    return column in self.header

  def text(self, column: str) -> pd.Series:
    i = self.header.index(column)
    return pd.Series([row[i].strip() if i < len(row) else '' for row in self.rows], dtype=str)

  def numbers(self, column: str) -> pd.Series:
    text = self.text(column)
    return pd.to_numeric(text.where(text != ''), errors='coerce').astype(float)


def read_cells(path: str) -> Cells:
  """Header and non-blank rows (pandas skips blank lines too, so row numbers agree)."""
  with open(path, encoding='utf-8', errors='replace', newline='') as f:
    text = f.read()
  rows = [row for row in csv.reader(io.StringIO(text)) if row]
  return Cells(path, rows[0] if rows else [], rows[1:], text.endswith(('\n', '\r')))


def _flag(cells: Cells, rule: str, mask, describe: Callable[[int], str]) -> list[Corruption]:
  """One problem per rule and column, at the first offending row, counting the others."""
  rows = np.flatnonzero(np.asarray(mask, dtype=bool))
  if not rows.size:
    return []
  more = f' (and {rows.size - 1} later rows)' if rows.size > 1 else ''
  return [Corruption(cells.path, rule, describe(int(rows[0])) + more, int(rows[0]) + 1)]


def short_rows(cells: Cells) -> list[Corruption]:
  width = len(cells.header)
  counts = np.array([len(row) for row in cells.rows])
  problems = _flag(cells, 'short_row', counts < width,
                   lambda i: f'{counts[i]} of {width} cells (write cut short?)')
  if cells.rows and not cells.terminated and counts[-1] >= width:
    problems.append(Corruption(cells.path, 'short_row',
                               'last row has no line end (write cut short?)', len(cells.rows)))
  return problems


def _diverged_tail(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
  """Rows from which on every value is one a diverged run logs (nan, or the losing infinity):
  such a tail is an honest record that cannot reach any target, not corruption."""
  losing = np.isnan(values) | (values == (-np.inf if higher_is_better else np.inf))
  return np.logical_and.accumulate(losing[::-1])[::-1]


def non_finite_metrics(cells: Cells, target: WorkloadTarget) -> list[Corruption]:
  problems = []
  for column in (target.column('validation'), target.column('test')):
    if not cells.has(column):
      continue
    text, values = cells.text(column), cells.numbers(column).to_numpy()
    written = text.str.lower().isin(NAN_TEXT).to_numpy() | np.isinf(values)
    bad = written & ~_diverged_tail(values, target.higher_is_better)
    problems += _flag(cells, 'non_finite_metric', bad, lambda i, c=column, t=text:
                      f'{c} = {t[i]} (only a diverged run\'s last rows may be nan or '
                      f'{"-" if target.higher_is_better else ""}inf)')
  return problems


def time_problems(cells: Cells) -> list[Corruption]:
  problems = []
  for column in (c for c in TIME_COLUMNS if cells.has(c)):
    values = cells.numbers(column)
    previous = values.ffill().shift()
    problems += _flag(cells, 'negative_time', values < 0,
                      lambda i, c=column, v=values: f'{c} = {v[i]:.10g}')
    problems += _flag(cells, 'time_decreases', values < previous,
                      lambda i, c=column, v=values, p=previous:
                      f'{c} goes back from {p[i]:.10g} to {v[i]:.10g}')
  return problems


def score_mismatch(cells: Cells) -> list[Corruption]:
  if not (cells.has('score') and cells.has('accumulated_submission_time')):
    return []
  score, submission = cells.numbers('score'), cells.numbers('accumulated_submission_time')
  off = (score.notna() & submission.notna()
         & ~np.isclose(score, submission, rtol=SCORE_RTOL, atol=SCORE_ATOL))
  return _flag(cells, 'score_mismatch', off, lambda i: f'score {score[i]:.10g} != '
               f'accumulated_submission_time {submission[i]:.10g}')


def row_problems(path: str, target: WorkloadTarget) -> list[Corruption]:
  """Every row rule one eval file breaks (it has already parsed as a CSV)."""
  try:
    cells = read_cells(path)
  except (OSError, csv.Error) as e:
    return [Corruption(path, 'short_row', f'rows unreadable as CSV ({e})')]
  return (short_rows(cells) + non_finite_metrics(cells, target) + time_problems(cells)
          + score_mismatch(cells))


def symlink_problems(trial_path: str, eval_path: str) -> list[Corruption]:
  """A link makes one run count twice or scores a file kept elsewhere; trials are folders."""
  for path in (trial_path, eval_path):
    if os.path.islink(path):
      return [Corruption(path, 'symlink', f'is a symbolic link to {os.path.realpath(path)}')]
  return []


# Statuses with which the runner declares a trial's own records untrustworthy.
VOID_STATUSES = ('clock_mismatch',)


def void_trial(trial_path: str) -> list[Corruption]:
  """The runner's own verdict, when the trial's records cannot be trusted."""
  path = os.path.join(trial_path, 'trial_summary.json')
  summary = _read_json(path) if os.path.isfile(path) else None
  status = summary.get('status') if isinstance(summary, dict) else None
  if status not in VOID_STATUSES:
    return []
  return [Corruption(trial_path, 'void_trial',
                     f'trial_summary.json status {status}: {summary.get("error")}')]


def _read_json(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _seed(trial_path: str):
  """The rng_seed of the trial's first meta_data_<p>.json (AlgoPerf's and ours), or None."""
  files = sorted(glob.glob(os.path.join(trial_path, 'meta_data_*.json')))
  meta = _read_json(files[0]) if files else None
  return meta.get('rng_seed') if isinstance(meta, dict) else None


def fingerprints(trial_path: str, eval_file: str) -> dict[str, str]:
  """What identifies a run: its eval file's bytes; its seed with its hyperparameters."""
  prints = {}
  eval_path = os.path.join(trial_path, eval_file)
  if os.path.isfile(eval_path) and os.path.getsize(eval_path):
    with open(eval_path, 'rb') as f:
      prints['identical eval file'] = hashlib.sha256(f.read()).hexdigest()
  seed = _seed(trial_path)
  hparams = _read_json(os.path.join(trial_path, 'hparams.json'))
  if seed is not None and hparams is not None:
    prints['same rng_seed and hparams.json'] = json.dumps([seed, hparams], sort_keys=True)
  return prints


def duplicates(trial_paths: Sequence[str], eval_file: str) -> dict[str, Corruption]:
  """The trials of one study repeating an earlier one (the first of each set is kept)."""
  seen: dict[tuple[str, str], str] = {}
  found = {}
  for path in trial_paths:
    for kind, value in fingerprints(path, eval_file).items():
      original = seen.setdefault((kind, value), path)
      if original != path and path not in found:
        found[path] = Corruption(path, 'duplicate', f'{kind} as {original}')
  return found
