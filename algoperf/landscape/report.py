"""A view's files in the output folder, written so that nothing half-written looks done.

Per view: `<view>.npz` (every evaluated number), PNGs and `<view>.json` (the summary with
the barriers). They are first written into a hidden staging folder beside them; then the
old summary is removed, the other files are moved into place, and the summary goes last:
`<view>.json` exists only when every file of that run is in place, so it is the view's
completion marker. `landscape.html` (one self-contained page, figures embedded) is then
rebuilt from every completed view in the folder.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import os
import shutil
import tempfile
from typing import Any

import numpy as np

from algoperf import html_table, logs

PAGE = 'landscape.html'
ORDER = ('interpolate', 'connect', 'plane')


def summary_path(folder: str, view: str) -> str:
  return os.path.join(folder, f'{view}.json')


def read_summary(folder: str, view: str) -> dict[str, Any] | None:
  path = summary_path(folder, view)
  return logs.read_json(path) if os.path.exists(path) else None


def write_view(folder: str, view) -> dict[str, Any]:
  """Write `view` (a `views.View`) into `folder`; returns its summary as written."""
  from algoperf.scoring.plots import png_bytes
  os.makedirs(folder, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=f'.{view.name}-staging-', dir=folder)
  try:
    files = [f'{view.name}.npz']
    np.savez(os.path.join(staging, files[0]), **view.arrays)
    for name, draw in view.figures:
      with open(os.path.join(staging, name), 'wb') as f:
        f.write(png_bytes(draw()))
      files.append(name)
    summary = dict(view.summary)
    summary['files'] = files
    summary['written'] = datetime.datetime.now().astimezone().isoformat(timespec='seconds')
    logs.write_json(os.path.join(staging, f'{view.name}.json'), summary)
    marker = summary_path(folder, view.name)
    if os.path.exists(marker):
      os.remove(marker)
    for name in files:
      os.replace(os.path.join(staging, name), os.path.join(folder, name))
    os.replace(os.path.join(staging, f'{view.name}.json'), marker)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  write_page(folder)
  return summary


# --- the page ----------------------------------------------------------------------------



def _image(folder: str, name: str) -> str:
  path = os.path.join(folder, name)
  if not os.path.exists(path):
    return ''
  with open(path, 'rb') as f:
    data = base64.b64encode(f.read()).decode('ascii')
  return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'


def _points_rows(summary: dict[str, Any]) -> list[list[Any]]:
  rows = []
  for label, point in summary.get('points', {}).items():
    if 'trial_dir' in point:
      rows.append([label, point['trial_dir'], point['step'], point.get('rng_seed')])
    else:
      rows.append([label, f'{point.get("bend")} of the curve in {point.get("curve_dir")}',
                   None, None])
  return rows


def _section(folder: str, view: str, summary: dict[str, Any]) -> list[str]:
  esc = html.escape
  parts = [f'<h2>{esc(view)}</h2>']
  evaluation = summary.get('evaluation', {})
  note = evaluation.get('batch_norm')
  if note:
    parts.append(f'<p class="note">{esc(note)}.</p>')
  parts.append(html_table.table(['point', 'trial', 'step', 'seed'], _points_rows(summary)))
  if 'barriers' in summary:
    paths = list(summary['barriers'])
    names = list(next(iter(summary['barriers'].values())))
    rows = [[name, *(summary['barriers'][p][name] for p in paths),
             *summary.get('endpoints', {}).get(name, [None, None])] for name in names]
    parts.append('<p>Barrier = max along the path (t in [0, 1]) minus the higher '
                 'endpoint.</p>')
    parts.append(html_table.table(['series', *(f'barrier: {p}' for p in paths), 'at A', 'at B'],
                        rows))
  if view == 'connect' and 'curve' in summary:
    training = summary.get('training', {})
    parts.append(html_table.table(['curve', 'bends', 'steps', 'optimizer', 'learning rate',
                         'final training loss', 'bend moved (× |B − A|)'],
                        [[summary['curve']['curve'], summary['curve']['num_bends'],
                          training.get('steps'), summary['curve']['optimizer'],
                          summary['curve']['learning_rate'],
                          training.get('final_logged_loss'),
                          ', '.join(f'{m:.3g}' for m in summary.get(
                              'bend_displacement_relative', []))]]))
  if view == 'plane':
    rows = [[name, *values, summary['grid_min'][name], summary['grid_max'][name]]
            for name, values in summary.get('at_points', {}).items()]
    parts.append(html_table.table(['series', *summary.get('labels', ['A', 'B', 'C']), 'grid min',
                         'grid max'], rows))
    if summary.get('curve'):
      distance = summary['curve'].get('max_distance_from_plane_relative')
      parts.append(f'<p>Curve: {esc(str(summary["curve"]["curve"]))} with '
                   f'{summary["curve"]["num_bends"]} bend(s) from '
                   f'{esc(str(summary["curve"]["folder"]))}, drawn as its projection; its '
                   f'largest distance from the plane is {html_table.cell(distance)} × |B − A|.</p>')
  parts += [_image(folder, name) for name in summary.get('files', [])
            if name.endswith('.png')]
  parts.append(html_table.table(['evaluation', 'value'], [
      ['examples per split', json.dumps(evaluation.get('examples'))],
      ['model state', evaluation.get('model_state')],
      ['strategy, points per chunk', f'{evaluation.get("strategy")}, '
                                     f'{evaluation.get("points_per_chunk")}'],
      ['seconds', summary.get('evaluation_seconds')],
      ['written', summary.get('written')]]))
  return parts


def write_page(folder: str) -> str:
  """<folder>/landscape.html from every completed view (its summary JSON present)."""
  esc = html.escape
  done = [(view, read_summary(folder, view)) for view in ORDER]
  done = [(view, s) for view, s in done if s is not None]
  workload = done[0][1].get('workload', '') if done else ''
  parts = ['<!DOCTYPE html><html><head><meta charset="utf-8">',
           f'<title>Loss landscape: {esc(workload)}</title><style>',
           'body{font-family:sans-serif;max-width:1300px;margin:auto;padding:1em}'
           'table{border-collapse:collapse;margin-bottom:1em}td,th{padding:3px 8px;'
           'border-bottom:1px solid #ccc;text-align:left}img{max-width:100%}'
           '.note{color:#8a4b00}',
           f'</style></head><body><h1>Loss landscape: {esc(workload)}</h1>',
           '<p>Views computed by landscape.py (docs/landscape.md); every number is in the '
           '.npz and .json files beside this page.</p>']
  for view, summary in done:
    parts += _section(folder, view, summary)
  parts.append('</body></html>')
  path = os.path.join(folder, PAGE)
  logs.write_bytes(path, '\n'.join(parts).encode('utf-8'))
  return path
