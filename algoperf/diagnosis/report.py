"""A diagnosis's outputs beside its trials: diagnosis.json, PNGs and one self-contained HTML
page (figures embedded, nothing loaded from elsewhere)."""

from __future__ import annotations

import base64
import datetime
import html
import os
from collections.abc import Mapping, Sequence
from typing import Any

from algoperf import html_table, logs

SUMMARY_FILE = 'diagnosis.json'


def write_summary(folder: str, summary: Mapping[str, Any]) -> str:
  path = os.path.join(folder, SUMMARY_FILE)
  logs.write_json(path, dict(summary))
  return path


def read_summary(folder: str) -> dict[str, Any] | None:
  """A diagnosis's summary, or None when it has not been written."""
  path = os.path.join(folder, SUMMARY_FILE)
  return logs.read_json(path) if os.path.exists(path) else None


def write_png(folder: str, name: str, fig) -> str:
  from algoperf.scoring.plots import png_bytes
  path = os.path.join(folder, name)
  logs.write_bytes(path, png_bytes(fig))
  return path


def write_page(folder: str, name: str, title: str, verdict: str, pngs: Sequence[str],
               tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]],
               notes: Sequence[str] = ()) -> str:
  """<folder>/<name>.html: the verdict, the figures, then one table per (heading,
  columns, rows)."""
  esc = html.escape
  stamp = datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M:%S %Z')
  parts = ['<!DOCTYPE html><html><head><meta charset="utf-8">',
           f'<title>{esc(title)}</title><style>',
           'body{font-family:sans-serif;max-width:1300px;margin:auto;padding:1em}'
           'table{border-collapse:collapse;margin-bottom:1em}td,th{padding:3px 8px;'
           'border-bottom:1px solid #ccc;text-align:left}img{max-width:100%}'
           '.verdict{font-size:1.15em;background:#f3f3f3;padding:.6em}.note{color:#8a4b00}',
           f'</style></head><body><h1>{esc(title)}</h1>',
           f'<p class="verdict">{esc(verdict)}</p>',
           f'<p>Written {esc(stamp)}. The rules behind the verdict: docs/diagnose.md. Trials '
           f'and {SUMMARY_FILE} are in this folder.</p>']
  parts += [f'<p class="note">{esc(n)}</p>' for n in notes]
  for png in pngs:
    with open(png, 'rb') as f:
      data = base64.b64encode(f.read()).decode('ascii')
    parts.append(f'<img alt="{esc(os.path.basename(png))}" src="data:image/png;base64,'
                 f'{data}">')
  for heading, columns, rows in tables:
    parts += [f'<h2>{esc(heading)}</h2>', html_table.table(columns, rows)]
  parts.append('</body></html>')
  path = os.path.join(folder, f'{name}.html')
  logs.write_bytes(path, '\n'.join(parts).encode('utf-8'))
  return path
