"""Plain HTML tables for the tools' self-contained report pages (diagnose, landscape)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any


def cell(value: Any) -> str:
  """A table cell's text: floats to 4 significant digits, None as a dash."""
  if value is None:
    return '–'
  if isinstance(value, float):
    return f'{value:.4g}'
  return str(value)


def table(columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
  """An HTML table with a header row; every cell escaped."""
  esc = html.escape
  head = ''.join(f'<th>{esc(str(c))}</th>' for c in columns)
  body = ''.join('<tr>' + ''.join(f'<td>{esc(cell(v))}</td>' for v in row) + '</tr>'
                 for row in rows)
  return f'<table><tr>{head}</tr>{body}</table>'
