"""Problems found while scoring: logged and kept for the report, or fatal under --strict.

Nothing is skipped silently: every missing, empty or malformed input passes through here,
and so does every corrupt trial (`integrity` names the rule it breaks), which is left out of
scoring and listed, or, under strict, refused together with the other corrupt trials.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pandas as pd
from absl import logging

TRIAL_COLUMNS = ['submission', 'workload', 'framework', 'experiment', 'study', 'trial']
EXCLUDED_COLUMNS = TRIAL_COLUMNS + ['path', 'rules', 'problems']


class ScoringError(Exception):
  """A problem that makes the scores untrustworthy (raised for every problem under strict)."""


@dataclasses.dataclass(frozen=True)
class Corruption:
  """One broken log rule: the file, the data row (1-based; None = whole trial) and the rule."""
  path: str
  rule: str
  detail: str
  row: int | None = None

  def __str__(self) -> str:
    where = self.path if self.row is None else f'{self.path} row {self.row}'
    return f'{where}: corrupt log [{self.rule}] {self.detail}'


class Issues:
  """Collects named problems of one scoring run; `strict` turns the first into an error.

  Corrupt trials are the exception under strict: they are collected while the logs are read
  and `refuse_corrupt` raises once, listing all of them, so one run names every problem.
  """

  def __init__(self, strict: bool = False):
    self.strict = strict
    self.messages: list[str] = []
    self.excluded: list[dict] = []  # one record per corrupt trial, EXCLUDED_COLUMNS

  def warn(self, message: str) -> None:
    if self.strict:
      self.refuse_corrupt(also=message)
      raise ScoringError(f'{message} (--strict)')
    logging.warning('%s', message)
    self.messages.append(message)

  def exclude_trial(self, keys: Mapping[str, str], path: str,
                    problems: Sequence[Corruption]) -> None:
    """Report a corrupt trial's problems; the caller leaves its rows out of scoring."""
    for problem in problems:
      message = f'{problem}; trial excluded'
      if not self.strict:
        logging.warning('%s', message)
      self.messages.append(message)
    record = {**{k: keys.get(k) for k in TRIAL_COLUMNS}, 'path': path,
              'rules': ','.join(dict.fromkeys(p.rule for p in problems)),
              'problems': '; '.join(str(p) for p in problems)}
    self.excluded.append(record)

  def refuse_corrupt(self, also: str | None = None) -> None:
    """Under strict, one error listing every corrupt-log problem found so far (and `also`)."""
    if not (self.strict and self.excluded):
      return
    lines = self.messages + ([also] if also else [])
    raise ScoringError(f'refusing to score (--strict): {len(self.excluded)} trial(s) with '
                       'corrupt logs:\n' + '\n'.join(f'  {line}' for line in lines))

  def excluded_table(self) -> pd.DataFrame:
    return pd.DataFrame(self.excluded, columns=EXCLUDED_COLUMNS)
