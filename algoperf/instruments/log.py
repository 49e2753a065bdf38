"""A trial's instrument logs, next to its eval_measurements.csv, and the API to read them.

    trial_<i>/instruments.json                 what was tracked, when, and how (forward mode)
    trial_<i>/instruments.csv                  one row of scalars per tracked step
    trial_<i>/instrument_histograms/step_<n>.npz   that step's histograms

Rows are appended and flushed one at a time (`logs.CsvAppender`), each histogram file is
written whole or not at all, and a resumed trial first drops what it will redo, so a
killed-and-resumed run has every tracked step exactly once.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from algoperf import logs

INSTRUMENTS_CSV = 'instruments.csv'
INSTRUMENTS_META = 'instruments.json'
HISTOGRAM_DIR = 'instrument_histograms'
_HISTOGRAM_FILE = re.compile(r'step_(\d+)\.npz')


class InstrumentLog:
  """The writer, owned by the trial's instrument observer."""

  def __init__(self, log_dir: str):
    self.log_dir = log_dir
    self._scalars = logs.CsvAppender(os.path.join(log_dir, INSTRUMENTS_CSV))
    self._histograms = os.path.join(log_dir, HISTOGRAM_DIR)

  def write_meta(self, meta: Mapping[str, Any]) -> None:
    logs.write_json(os.path.join(self.log_dir, INSTRUMENTS_META), dict(meta))

  def append(self, global_step: int, preemption_count: int, scalars: Mapping[str, float],
             arrays: Mapping[str, np.ndarray]) -> None:
    # Histograms first: a row in the CSV promises its step's histograms exist.
    if arrays:
      os.makedirs(self._histograms, exist_ok=True)
      buffer = io.BytesIO()
      np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
      logs.write_bytes(os.path.join(self._histograms, f'step_{global_step}.npz'),
                         buffer.getvalue())
    self._scalars.append({'global_step': global_step, 'preemption_count': preemption_count,
                          **scalars})

  def drop_after(self, global_step: int) -> None:
    """Forget tracked steps after `global_step` (a resumed trial redoes them)."""
    if os.path.exists(self._scalars.path):
      self._scalars.drop_rows_after_step(global_step)
    for step, path in _histogram_files(self.log_dir).items():
      if step > global_step:
        os.remove(path)


def _histogram_files(trial_dir: str) -> dict[int, str]:
  folder = os.path.join(trial_dir, HISTOGRAM_DIR)
  if not os.path.isdir(folder):
    return {}
  return {int(m.group(1)): os.path.join(folder, name) for name in os.listdir(folder)
          if (m := _HISTOGRAM_FILE.fullmatch(name))}


@dataclasses.dataclass(frozen=True)
class InstrumentRecord:
  """One trial's instrument logs: `scalars` (a DataFrame indexed by nothing, one row per
  tracked step), `meta` (instruments.json) and the steps that have histograms."""
  trial_dir: str
  meta: dict[str, Any]
  scalars: Any  # pandas.DataFrame
  histogram_steps: tuple[int, ...]

  def histograms(self, step: int) -> dict[str, np.ndarray]:
    """The histograms logged at `step` (KeyError if that step has none)."""
    path = _histogram_files(self.trial_dir).get(step)
    if path is None:
      raise KeyError(f'{self.trial_dir}: no histograms at step {step}')
    with np.load(path) as data:
      return {k: data[k] for k in data.files}


class NoInstrumentLogs(FileNotFoundError):
  """A trial folder without instrument logs (the run had no --instruments)."""


def load(trial_dir: str) -> InstrumentRecord:
  """Read a trial folder's instrument logs; `NoInstrumentLogs` if it has none."""
  import pandas as pd

  meta_path = os.path.join(trial_dir, INSTRUMENTS_META)
  csv_path = os.path.join(trial_dir, INSTRUMENTS_CSV)
  if not os.path.isfile(meta_path):
    raise NoInstrumentLogs(
        f'{trial_dir}: no {INSTRUMENTS_META}; this trial ran without --instruments '
        '(rerun it with, e.g., --instruments=economy)')
  scalars = (pd.read_csv(csv_path) if os.path.isfile(csv_path) and os.path.getsize(csv_path)
             else pd.DataFrame(columns=['global_step', 'preemption_count']))
  return InstrumentRecord(trial_dir=trial_dir, meta=logs.read_json(meta_path),
                          scalars=scalars.sort_values('global_step', kind='stable')
                          .reset_index(drop=True),
                          histogram_steps=tuple(sorted(_histogram_files(trial_dir))))
