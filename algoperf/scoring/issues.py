"""Problems found while scoring: logged and kept for the report, or fatal under --strict.

Nothing is skipped silently: every missing, empty or malformed input passes through here.
"""

from __future__ import annotations

from absl import logging


class ScoringError(Exception):
  """A problem that makes the scores untrustworthy (raised for every problem under strict)."""


class Issues:
  """Collects named problems of one scoring run; `strict` turns the first into an error."""

  def __init__(self, strict: bool = False):
    self.strict = strict
    self.messages: list[str] = []

  def warn(self, message: str) -> None:
    if self.strict:
      raise ScoringError(f'{message} (--strict)')
    logging.warning('%s', message)
    self.messages.append(message)
