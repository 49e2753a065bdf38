"""The three views: what each evaluates, and the numbers it reports.

  interpolate  the segment A→B at N points, with margins beyond both ends
  connect      a curve A→B trained with fixed endpoints (`curve`), evaluated at 61 points,
               beside the segment at the same 61 t
  plane        a grid on the plane through A, B, C (or A, B and a trained curve's bend)

Every view returns a `View`: arrays for the .npz, a JSON-able summary and the figures to
draw; `report` writes them. Barrier = max along the path (t in [0, 1]) minus the higher
endpoint, for the training loss and, separately, the validation error (1 − accuracy) or
the workload's lower-is-better target metric, and for every other series too.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from algoperf.landscape import LandscapeError, curve, evaluate, geometry, memory, points

VIEWS = ('interpolate', 'connect', 'plane')


@dataclasses.dataclass
class Context:
  """What every view needs: the workload, the trained points, how to evaluate."""
  workload_name: str
  workload: Any
  points: list[points.TrainedPoint]
  settings: evaluate.EvalSettings
  show_progress: bool = True

  def say(self, message: str) -> None:
    print(message, file=sys.stderr, flush=True)

  def eval_progress(self, label: str) -> Callable[[int, int], None] | None:
    if not self.show_progress:
      return None
    clock = curve.Progress(label)
    return lambda done, total: clock(done, total)


@dataclasses.dataclass
class View:
  name: str
  arrays: dict[str, np.ndarray]
  summary: dict[str, Any]
  figures: list[tuple[str, Callable[[], Any]]]   # (png name, () -> Figure)


# --- series and barriers ---------------------------------------------------------------

def error_name(workload) -> str:
  """The name of the validation series whose barrier is reported beside the loss's."""
  metric = workload.target_metric_name
  if metric == 'loss':
    return 'loss'
  if workload.target_metric_higher_is_better:
    return 'error' if metric == 'accuracy' else f'neg_{metric}'
  return metric


def series(workload, results: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Lower-is-better series per split: loss, and the error (1 − accuracy) or metric."""
  metric = workload.target_metric_name
  out = {}
  for split in evaluate.SPLITS:
    out[f'{split}/loss'] = results[f'{split}/loss']
    if metric == 'loss':
      continue
    value = results[f'{split}/{metric}']
    if workload.target_metric_higher_is_better:
      out[f'{split}/{error_name(workload)}'] = 1.0 - value if metric == 'accuracy' else -value
    else:
      out[f'{split}/{metric}'] = value
  return out


def barriers(named: dict[str, np.ndarray], ts: np.ndarray) -> dict[str, float]:
  return {name: geometry.barrier(values, ts) for name, values in named.items()}


def primary(workload) -> tuple[str, str]:
  """The two reported barriers: training loss, validation error (or metric)."""
  return 'train/loss', f'validation/{error_name(workload)}'


def _endpoints(named: dict[str, np.ndarray], ts: np.ndarray) -> dict[str, list[float]]:
  i0, i1 = int(np.argmin(np.abs(ts))), int(np.argmin(np.abs(ts - 1)))
  return {name: [float(v[i0]), float(v[i1])] for name, v in named.items()}


def _base_summary(ctx: Context, evaluator: evaluate.Evaluator, view: str) -> dict[str, Any]:
  return {
      'view': view, 'workload': ctx.workload_name,
      'target_metric': ctx.workload.target_metric_name,
      'error_series': error_name(ctx.workload),
      'points': {label: p.describe() for label, p in zip('ABC', ctx.points, strict=False)},
      'evaluation': evaluator.describe(),
      'batch_norm_recomputed': evaluator.describe()['batch_norm_recomputed'],
  }


def _anchor_pairs(ctx: Context) -> list[tuple[Any, Any]]:
  return [(p.params, p.model_state) for p in ctx.points]


# --- interpolate -----------------------------------------------------------------------

def interpolate(ctx: Context, num_points: int = 61, margin: float = 0.2) -> View:
  """The segment A→B: N points on [0, 1] plus whole steps beyond both ends."""
  ts = geometry.segment_ts(num_points, margin)
  evaluator = evaluate.Evaluator(ctx.workload, _anchor_pairs(ctx)[:2], ctx.settings)
  ctx.say(f'interpolate: {len(ts)} points (t from {ts[0]:.2f} to {ts[-1]:.2f}), '
          f'{evaluator.chunk_size} per chunk')
  results = evaluator.evaluate(geometry.segment_weights(ts), ctx.eval_progress('evaluated'))
  named = series(ctx.workload, results)
  summary = _base_summary(ctx, evaluator, 'interpolate')
  summary.update({
      'num_points': num_points, 'margin': margin, 't_range': [float(ts[0]), float(ts[-1])],
      'barriers': {'segment': barriers(named, ts)},
      'endpoints': _endpoints(named, ts),
      'primary_series': list(primary(ctx.workload)),
      'evaluation_seconds': round(evaluator.last_seconds, 2),
  })
  arrays = {'t': ts, **{f'segment/{k}': v for k, v in results.items()},
            **{f'segment/{k}': v for k, v in named.items()}}
  from algoperf.landscape import plots
  title = (f'{ctx.workload_name}: the segment A→B\n'
           f'A = {ctx.points[0].short_name}, B = {ctx.points[1].short_name}')
  figures = [('interpolate.png',
              lambda: plots.paths_figure(ts, {'segment': named}, primary(ctx.workload),
                                         title))]
  return View('interpolate', arrays, summary, figures)


# --- connect ---------------------------------------------------------------------------

def _bend_states(ctx: Context, num_bends: int):
  """Model states for the bends when states are combined, not recomputed: the segment's
  states at the bends' starting points."""
  a, b = ctx.points[0].model_state, ctx.points[1].model_state
  if a is None:
    return [None] * num_bends
  import jax
  return [jax.tree.map(lambda x, y, wa=wa, wb=wb: wa * x + wb * y, a, b)
          for wa, wb in geometry.initial_bends(num_bends)]


def trainer_for(ctx: Context, settings: curve.CurveSettings, folder: str
                ) -> curve.CurveTrainer:
  a, b = ctx.points[0], ctx.points[1]
  identity = {'workload': ctx.workload_name, 'start': a.describe(), 'end': b.describe()}
  return curve.CurveTrainer(ctx.workload, (a.params, a.model_state),
                            (b.params, b.model_state), settings, folder, identity,
                            ctx.settings.data_dir)


def curve_anchors(ctx: Context, bends, num_bends: int) -> list[tuple[Any, Any]]:
  import jax
  states = _bend_states(ctx, num_bends)
  bend_params = [jax.tree.map(lambda s, i=i: np.asarray(s[i]), bends) for i in range(num_bends)]
  a, b = ctx.points[0], ctx.points[1]
  return ([(a.params, a.model_state)] + list(zip(bend_params, states, strict=True))
          + [(b.params, b.model_state)])


def connect(ctx: Context, settings: curve.CurveSettings, folder: str,
            overwrite: bool = False, num_points: int = 61) -> View:
  """Train (or resume) the curve's bends, then evaluate curve and segment at 61 t."""
  flat_a, flat_b = points.flatten(ctx.points[0].params), points.flatten(ctx.points[1].params)
  length = float(np.linalg.norm(flat_b - flat_a))
  if length == 0:
    raise LandscapeError('A and B are the same point: there is nothing to connect')
  trainer = trainer_for(ctx, settings, folder)
  if overwrite:
    trainer.reset()
    # The old curve's view is no longer true: remove its completion marker now.
    stale = os.path.join(folder, 'connect.json')
    if os.path.exists(stale):
      os.remove(stale)
  done = trainer.trained_steps()
  if done is not None:
    trainer.check_resumable()
    ctx.say(f'connect: {os.path.join(folder, curve.CHECKPOINTS)} holds step {done} of '
            f'{settings.steps}' + ('; continuing' if done < settings.steps else
                                   '; training is finished, evaluating'))
  else:
    ctx.say(f'connect: training a {settings.curve} curve with {settings.num_bends} bend(s) '
            f'for {settings.steps} steps ({settings.optimizer}, lr {settings.learning_rate})')
  progress = curve.Progress('curve training') if ctx.show_progress else None
  state = trainer.train(progress)
  ts = np.linspace(0.0, 1.0, num_points)
  k = settings.num_bends
  curve_w = geometry.curve_weights(settings.curve, k, ts)
  segment_w = np.zeros_like(curve_w)
  segment_w[:, 0], segment_w[:, -1] = 1.0 - ts, ts
  evaluator = evaluate.Evaluator(ctx.workload, curve_anchors(ctx, state.bends, k),
                                 ctx.settings)
  ctx.say(f'connect: evaluating the curve and the segment at {num_points} points each')
  results = evaluator.evaluate(np.concatenate([curve_w, segment_w]),
                               ctx.eval_progress('evaluated'))
  on_curve = {k_: v[:num_points] for k_, v in results.items()}
  on_segment = {k_: v[num_points:] for k_, v in results.items()}
  named = {'segment': series(ctx.workload, on_segment),
           'curve': series(ctx.workload, on_curve)}
  start_bends = geometry.initial_bends(k)
  import jax
  moved = []
  for i in range(k):
    bend = points.flatten(jax.tree.map(lambda s, i=i: np.asarray(s[i]), state.bends))
    moved.append(float(np.linalg.norm(bend - (start_bends[i, 0] * flat_a
                                              + start_bends[i, 1] * flat_b)) / length))
  log = np.array(state.log, np.float64).reshape(-1, 2)
  summary = _base_summary(ctx, evaluator, 'connect')
  summary.update({
      'curve': settings.record(), 'num_points': num_points,
      'training': {'steps': state.step, 'final_logged_loss': float(log[-1, 1]) if len(log)
                   else None, 'checkpoints': os.path.join(folder, curve.CHECKPOINTS)},
      'endpoint_distance': length,
      'bend_displacement_relative': moved,
      'barriers': {name: barriers(values, ts) for name, values in named.items()},
      'endpoints': _endpoints(named['segment'], ts),
      'primary_series': list(primary(ctx.workload)),
      'evaluation_seconds': round(evaluator.last_seconds, 2),
  })
  arrays = {'t': ts, 'training_log': log,
            **{f'{path}/{k_}': v for path, res in (('curve', on_curve),
                                                   ('segment', on_segment))
               for k_, v in res.items()},
            **{f'{path}/{k_}': v for path, res in named.items() for k_, v in res.items()}}
  from algoperf.landscape import plots
  title = (f'{ctx.workload_name}: {settings.curve} curve, {k} bend(s), {state.step} steps\n'
           f'A = {ctx.points[0].short_name}, B = {ctx.points[1].short_name}')
  figures = [('connect.png', lambda: plots.paths_figure(ts, named, primary(ctx.workload),
                                                        title)),
             ('connect_training.png', lambda: plots.training_figure(log, title))]
  return View('connect', arrays, summary, figures)


# --- plane -----------------------------------------------------------------------------

def load_curve(ctx: Context, folder: str):
  """(settings, bends) of the curve trained in `folder` between ctx's first two points."""
  record = _curve_record(folder)
  settings = curve.CurveSettings(**record['curve'])
  trainer = trainer_for(ctx, settings, folder)
  ends = [record[end] for end in ('start', 'end')]
  if ends != [p.describe() for p in ctx.points[:2]] or record['workload'] != ctx.workload_name:
    raise LandscapeError(
        f'the curve in {folder} joins {ends[0]["trial_dir"]}@{ends[0]["step"]} and '
        f'{ends[1]["trial_dir"]}@{ends[1]["step"]} of {record["workload"]}, not the plane\'s '
        'first two points: give those as A B, or only --curve_dir')
  step = trainer.trained_steps()
  if step is None or step < settings.steps:
    raise LandscapeError(f'the curve in {folder} is not trained to the end (step {step} of '
                         f'{settings.steps}): rerun its connect command to finish it')
  with trainer._manager() as manager:
    state = trainer._restore(manager, trainer._initial_state())
  return settings, state.bends


def curve_endpoints(folder: str) -> list[tuple[str, int]]:
  """The trial folders and steps a trained curve joins (from its record)."""
  record = _curve_record(folder)
  return [(record[end]['trial_dir'], record[end]['step']) for end in ('start', 'end')]


def _curve_record(folder: str) -> dict:
  """What `connect` recorded of the curve it trained in `folder`."""
  import json
  path = os.path.join(folder, curve.CONFIG)
  if not os.path.exists(path):
    raise LandscapeError(f'--curve_dir={folder} holds no trained curve ({curve.CONFIG} is '
                         'missing): run `landscape.py connect` with --output_dir there first')
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def plane(ctx: Context, grid_points: int = 21, margin: float = 0.2,
          curve_dir: str | None = None, bend: int | None = None) -> View:
  """The grid on the plane through A, B and C (C: the third point, or a curve's bend)."""
  curve_info = None
  anchors = _anchor_pairs(ctx)
  labels = ['A', 'B', 'C']
  if curve_dir is not None:
    settings, bends = load_curve(ctx, curve_dir)
    k = settings.num_bends
    controls = curve_anchors(ctx, bends, k)
    flat_controls = np.stack([points.flatten(p) for p, _ in controls])
    curve_weights = geometry.curve_weights(settings.curve, k, np.linspace(0, 1, 61))
    curve_info = {'folder': curve_dir, 'curve': settings.curve, 'num_bends': k}
    if len(ctx.points) == 2:
      index = bend if bend is not None else (k + 1) // 2
      if not 1 <= index <= k:
        raise LandscapeError(f'--bend must be in 1..{k}, got {index}')
      anchors = anchors[:2] + [controls[index]]
      labels[2] = f'bend {index}'
      curve_info['third_point'] = f'bend {index}'
  if len(anchors) != 3:
    raise LandscapeError('a plane needs three points: A B C, or A B with --curve_dir')
  flats = [points.flatten(p) for p, _ in anchors]
  basis = geometry.plane_basis(*flats)
  extra = None
  if curve_info is not None:
    # The curve is a fixed combination of its control points, and projecting is affine:
    # project the k + 2 controls, never the 61 full-size points of the curve.
    extra = curve_weights @ basis.project(flat_controls)
    residuals = flat_controls - basis.origin - (basis.project(flat_controls)
                                                @ np.stack([basis.u, basis.v]))
    gram = residuals @ residuals.T
    distance = np.sqrt(np.maximum(np.einsum('ti,ij,tj->t', curve_weights, gram,
                                            curve_weights), 0.0))
    curve_info['max_distance_from_plane_relative'] = float(distance.max()
                                                           / basis.coords[1, 0])
  # Refuse a grid whose coordinates and results alone exceed memory before making it.
  memory.check_points(grid_points**2 + 3, memory.PLANE_BYTES_PER_POINT,
                      memory.budget_bytes(ctx.settings.memory_budget_mb), 'lower --grid_points')
  xs, ys = geometry.plane_grid(basis.coords, grid_points, margin, extra)
  grid_x, grid_y = np.meshgrid(xs, ys)
  xys = np.column_stack([grid_x.ravel(), grid_y.ravel()])
  weights = np.concatenate([basis.affine_weights(xys), np.eye(3)])
  evaluator = evaluate.Evaluator(ctx.workload, anchors, ctx.settings)
  ctx.say(f'plane: {grid_points}×{grid_points} grid plus the 3 points, '
          f'{evaluator.chunk_size} per chunk')
  results = evaluator.evaluate(weights, ctx.eval_progress('evaluated'))
  named = series(ctx.workload, results)
  grids = {k_: v[:-3].reshape(grid_points, grid_points) for k_, v in named.items()}
  at_points = {k_: [float(x) for x in v[-3:]] for k_, v in named.items()}
  summary = _base_summary(ctx, evaluator, 'plane')
  summary.update({
      'grid_points': grid_points, 'margin': margin, 'labels': labels,
      'coordinates': basis.coords.tolist(),
      'x_range': [float(xs[0]), float(xs[-1])], 'y_range': [float(ys[0]), float(ys[-1])],
      'at_points': at_points,
      'grid_min': {k_: float(np.min(v)) for k_, v in grids.items()},
      'grid_max': {k_: float(np.max(v)) for k_, v in grids.items()},
      'curve': curve_info,
      'evaluation_seconds': round(evaluator.last_seconds, 2),
  })
  if curve_dir is not None and len(ctx.points) == 2:
    summary['points']['C'] = {'curve_dir': curve_dir, 'bend': labels[2]}
  arrays = {'x': xs, 'y': ys, 'coordinates': basis.coords,
            **{f'grid/{k_}': v[:-3].reshape(grid_points, grid_points)
               for k_, v in results.items()},
            **{f'grid/{k_}': v for k_, v in grids.items()}}
  if extra is not None:
    arrays['curve_xy'] = extra
  from algoperf.landscape import plots
  figures = []
  for name in primary(ctx.workload):
    png = f'plane_{name.replace("/", "_")}.png'
    figures.append((png, lambda name=name: plots.plane_figure(
        xs, ys, grids[name], basis.coords, labels, extra, f'{ctx.workload_name}: {name}',
        log_scale=name.endswith('loss'))))
  return View('plane', arrays, summary, figures)
