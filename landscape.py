r"""Loss landscapes between trained solutions, as Garipov et al. (2018) draw them
(docs/landscape.md).

  python landscape.py interpolate A B --output_dir=OUT
  python landscape.py connect A B --curve=bezier --num_bends=1 --output_dir=OUT
  python landscape.py plane A B C --output_dir=OUT
  python landscape.py plane --curve_dir=OUT --output_dir=OUT     (A, B and the curve's bend)

A, B, C are trial folders (.../study_<k>/<workload>_jax/trial_<i>/, from
submission_runner.py or run_suite.py, which checkpoint by default); their last checkpoint
is read, or the one at --step, or TRIAL@STEP. The workload is the trials' own.

  interpolate  loss and target metric (train, validation) at --num_points on the segment
               A→B and --margin beyond both ends
  connect      trains the bends of a curve A→B with fixed endpoints (each step a fresh
               t ~ U(0, 1); Optax, --curve_* flags), then evaluates curve and segment at
               61 points. Resumable: Ctrl-C, then the same command continues it.
  plane        loss and error on a --grid_points² grid in the plane through three points,
               contour plots with the points (and the curve, with --curve_dir) drawn in

Each writes <view>.npz, PNGs and <view>.json (barriers: max along the path minus the
higher endpoint) into --output_dir, and rebuilds its landscape.html. Batch-norm models get
their statistics recomputed at every point (--norecompute_bn to combine the trained ones).
"""

from __future__ import annotations

import logging
import os
import sys

from absl import app, flags

# JAX, the workloads and matplotlib are imported in main(), so --help and usage errors are
# fast.
from algoperf import cli_usage

VIEWS = ('interpolate', 'connect', 'plane')

flags.DEFINE_string('output_dir', None,
                    'Where the view\'s files and landscape.html go (default: '
                    'experiments/landscapes/<workload>). connect keeps its curve checkpoints '
                    'there.')
flags.DEFINE_string('workload', None,
                    'Optional check: the workload the trials must have run (read from them).')
flags.DEFINE_integer('step', None,
                     'Read every point at this checkpoint step instead of the last one '
                     '(a trial keeps older steps only with --save_intermediate_checkpoints); '
                     'TRIAL@STEP sets one point\'s step.')
flags.DEFINE_string('data_dir', '', 'Dataset location, as for submission_runner.py.')
# interpolate / plane
flags.DEFINE_integer('num_points', 61, 'interpolate: points on the segment [0, 1].')
flags.DEFINE_float('margin', 0.2,
                   'interpolate: how far beyond each end the segment continues (fraction of '
                   'A→B); plane: margin around the points (fraction of their extent).')
flags.DEFINE_integer('grid_points', 21, 'plane: grid points per axis (grid_points² in all).')
flags.DEFINE_string('curve_dir', None,
                    'plane: the --output_dir of a connect run; its curve is drawn in and, '
                    'with fewer than three points given, its endpoints and bend span the '
                    'plane.')
flags.DEFINE_integer('bend', None, 'plane with --curve_dir: which bend is the third point '
                     '(1-based; default the middle one).')
# connect
flags.DEFINE_enum('curve', 'bezier', ['bezier', 'polychain'],
                  'connect: a quadratic (k = 1) or higher Bezier curve, or a polygonal chain.')
flags.DEFINE_integer('num_bends', 1, 'connect: bends (control points) between the endpoints.')
flags.DEFINE_integer('curve_steps', 3000, 'connect: training steps of the bends.')
flags.DEFINE_integer('curve_batch_size', None,
                     'connect: training batch size (default: the workload\'s).')
flags.DEFINE_enum('curve_optimizer', 'adam', ['adam', 'sgd'], 'connect: Optax optimizer.')
flags.DEFINE_float('curve_learning_rate', 1e-3, 'connect: peak learning rate.')
flags.DEFINE_enum('curve_schedule', 'cosine', ['cosine', 'constant'],
                  'connect: cosine decay to 0 over --curve_steps, or constant.')
flags.DEFINE_float('curve_momentum', 0.9, 'connect: momentum of sgd.')
flags.DEFINE_float('curve_weight_decay', 0.0,
                   'connect: L2 penalty ½·wd·‖φ(t)‖² on the curve point (the paper\'s weight '
                   'decay).')
flags.DEFINE_integer('curve_seed', 0, 'connect: seed of the batches and the t draws.')
flags.DEFINE_integer('checkpoint_every', 500, 'connect: checkpoint the bends every N steps.')
flags.DEFINE_boolean('overwrite', False,
                     'connect: discard a curve already trained (or half-trained) in '
                     '--output_dir and train a new one.')
# evaluation
flags.DEFINE_integer('num_train_examples', None,
                     'Training examples evaluated per point: the first N of the workload\'s '
                     'eval_train split (default: as many as the workload evaluates).')
flags.DEFINE_integer('num_validation_examples', None,
                     'Validation examples evaluated per point (default: as many as the '
                     'workload evaluates).')
flags.DEFINE_integer('eval_batch_size', 1000, 'Examples per evaluation batch.')
flags.DEFINE_boolean('recompute_bn', True,
                     'Batch-norm models: recompute the statistics at every point from '
                     '--bn_batches training batches (as the paper does). --norecompute_bn '
                     'combines the trained points\' running averages instead.')
flags.DEFINE_integer('bn_batches', 8, 'Batch-norm models: training batches the recomputed '
                     'statistics are averaged over (a fixed seeded draw).')
flags.DEFINE_integer('bn_batch_size', None, 'Batch-norm models: examples per such batch '
                     '(default: the workload\'s training batch size).')
flags.DEFINE_enum('eval_strategy', 'auto', ['auto', 'vmap', 'map', 'loop'],
                  'How points are batched: vmap (all points of a chunk at once), map (one '
                  'after another in one XLA call), loop (one jitted call per point and '
                  'batch). auto: map on CPU, vmap on accelerators (benchmarks/README.md).')
flags.DEFINE_integer('max_points_per_chunk', 64, 'Most points evaluated in one call.')
flags.DEFINE_float('memory_budget_mb', None,
                   'Memory a chunk may use (default: half of the free device or host memory).')
flags.DEFINE_enum('progress', 'auto', ['auto', 'on', 'off'],
                  'Progress lines on stderr during long work (auto: only on a terminal).')
FLAGS = flags.FLAGS


def _view_and_points(argv: list[str]) -> tuple[str, list[str]]:
  args = argv[1:]
  if not args or args[0] not in VIEWS:
    got = args[0] if args else 'nothing'
    raise app.UsageError(f'name one view ({", ".join(VIEWS)}) first; got {got}')
  view, given = args[0], args[1:]
  if view in ('interpolate', 'connect') and len(given) != 2:
    raise app.UsageError(f'{view} takes two trial folders, A B; got {len(given)}')
  if view == 'plane':
    if FLAGS.curve_dir is None and len(given) != 3:
      raise app.UsageError(f'plane takes three trial folders A B C, or A B (or none) with '
                           f'--curve_dir; got {len(given)}')
    if FLAGS.curve_dir is not None and len(given) not in (0, 2, 3):
      raise app.UsageError(f'plane with --curve_dir takes A B C, A B or no trial folders; '
                           f'got {len(given)}')
  return view, given


def _check_flags() -> None:
  for name in ('num_points', 'grid_points', 'num_bends', 'curve_steps', 'eval_batch_size',
               'bn_batches', 'max_points_per_chunk', 'checkpoint_every'):
    if getattr(FLAGS, name) < 1:
      raise app.UsageError(f'--{name} must be >= 1, got {getattr(FLAGS, name)}')
  if FLAGS.num_points < 2 or FLAGS.grid_points < 2:
    raise app.UsageError('--num_points and --grid_points must be >= 2')
  for name in ('num_train_examples', 'num_validation_examples', 'bn_batch_size',
               'curve_batch_size', 'step', 'bend'):
    value = getattr(FLAGS, name)
    if value is not None and value < (0 if name == 'step' else 1):
      raise app.UsageError(f'--{name} must be positive, got {value}')
  if FLAGS.margin < 0:
    raise app.UsageError(f'--margin must be >= 0, got {FLAGS.margin}')
  if FLAGS.curve_learning_rate <= 0 or FLAGS.curve_weight_decay < 0:
    raise app.UsageError('--curve_learning_rate must be > 0 and --curve_weight_decay >= 0')
  if FLAGS.memory_budget_mb is not None and FLAGS.memory_budget_mb <= 0:
    raise app.UsageError(f'--memory_budget_mb must be > 0, got {FLAGS.memory_budget_mb}')


def _specs(view: str, given: list[str]):
  """(trial folder, step) of each point; plane's endpoints from the curve when not given."""
  from algoperf.landscape import points
  specs = []
  for arg in given:
    path, step = points.parse_point(arg)
    specs.append((path, step if step is not None else FLAGS.step))
  if view == 'plane' and FLAGS.curve_dir is not None and len(specs) < 3:
    from algoperf.landscape import views
    ends = views.curve_endpoints(os.path.abspath(os.path.expanduser(FLAGS.curve_dir)))
    if specs and [os.path.normpath(p) for p, _ in specs] != [
        os.path.normpath(p) for p, _ in ends]:
      from algoperf.landscape import LandscapeError
      raise LandscapeError(f'the curve in {FLAGS.curve_dir} joins {ends[0][0]} and '
                           f'{ends[1][0]}, not the trial folders given')
    specs = [(path, step) for path, step in ends]
  return specs


def _strategy() -> str:
  if FLAGS.eval_strategy != 'auto':
    return FLAGS.eval_strategy
  import jax
  return 'map' if jax.default_backend() == 'cpu' else 'vmap'


def _run(view: str, given: list[str]):
  from algoperf.landscape import curve, evaluate, points, report, views
  from workloads import registry
  specs = _specs(view, given)
  workload_name = points.resolve_workload(specs, FLAGS.workload)
  points.precheck(specs)
  try:
    workload = registry.get_workload(workload_name)
  except ValueError as e:
    from algoperf.landscape import LandscapeError
    raise LandscapeError(f'the trials ran workload {workload_name!r}, which this checkout '
                         f'does not have: {e}') from e
  output_dir = os.path.abspath(os.path.expanduser(
      FLAGS.output_dir or os.path.join('experiments', 'landscapes', workload_name)))
  settings = evaluate.EvalSettings(
      eval_batch_size=FLAGS.eval_batch_size, num_train_examples=FLAGS.num_train_examples,
      num_validation_examples=FLAGS.num_validation_examples,
      recompute_bn=FLAGS.recompute_bn, bn_batches=FLAGS.bn_batches,
      bn_batch_size=FLAGS.bn_batch_size, memory_budget_mb=FLAGS.memory_budget_mb,
      max_points_per_chunk=FLAGS.max_points_per_chunk, strategy=_strategy(),
      data_dir=os.path.expanduser(FLAGS.data_dir))
  print(f'{view}: {workload_name}, reading {len(specs)} trained point(s)', file=sys.stderr,
        flush=True)
  trained = points.load_points(specs, workload_name, workload)
  show = {'auto': sys.stderr.isatty(), 'on': True, 'off': False}[FLAGS.progress]
  ctx = views.Context(workload_name, workload, trained, settings, show)
  if view == 'interpolate':
    result = views.interpolate(ctx, FLAGS.num_points, FLAGS.margin)
  elif view == 'connect':
    curve_settings = curve.CurveSettings(
        curve=FLAGS.curve, num_bends=FLAGS.num_bends, steps=FLAGS.curve_steps,
        batch_size=FLAGS.curve_batch_size, optimizer=FLAGS.curve_optimizer,
        learning_rate=FLAGS.curve_learning_rate, schedule=FLAGS.curve_schedule,
        momentum=FLAGS.curve_momentum, weight_decay=FLAGS.curve_weight_decay,
        seed=FLAGS.curve_seed, checkpoint_every=FLAGS.checkpoint_every)
    result = views.connect(ctx, curve_settings, output_dir, FLAGS.overwrite)
  else:
    curve_dir = (os.path.abspath(os.path.expanduser(FLAGS.curve_dir))
                 if FLAGS.curve_dir else None)
    result = views.plane(ctx, FLAGS.grid_points, FLAGS.margin, curve_dir, FLAGS.bend)
  summary = report.write_view(output_dir, result)
  return summary, output_dir


def _print_summary(view: str, summary, output_dir: str) -> None:
  if summary.get('batch_norm_recomputed'):
    print(summary['evaluation']['batch_norm'])
  for path, values in summary.get('barriers', {}).items():
    shown = ', '.join(f'{name} {values[name]:.4g}' for name in summary['primary_series'])
    print(f'{view}: barrier along the {path}: {shown}')
  if view == 'plane':
    for name, low in summary['grid_min'].items():
      print(f'plane: {name} on the grid from {low:.4g} to {summary["grid_max"][name]:.4g}; '
            f'at {", ".join(summary["labels"])}: '
            f'{", ".join(f"{v:.4g}" for v in summary["at_points"][name])}')
  print(f'files: {output_dir} ({", ".join(summary["files"])}, {view}.json)')
  print(f'page: {os.path.join(output_dir, "landscape.html")}')


def main(argv):
  view, given = _view_and_points(argv)
  _check_flags()
  logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s',
                      force=True)
  from algoperf.landscape import LandscapeError
  try:
    summary, output_dir = _run(view, given)
  except LandscapeError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except curve_interrupted() as e:
    print(f'\n{e.resume_hint()}. Rerun the same command to continue from there.',
          file=sys.stderr)
    return cli_usage.INTERRUPTED_EXIT_CODE
  except KeyboardInterrupt:
    print('\ninterrupted: nothing of this view was written (its files are written only when '
          'it is complete).', file=sys.stderr)
    return cli_usage.INTERRUPTED_EXIT_CODE
  _print_summary(view, summary, output_dir)
  return 0


def curve_interrupted():
  from algoperf.landscape import curve
  return curve.CurveInterrupted


def workload_list() -> str:
  from workloads import registry
  return 'Workloads: ' + ', '.join(registry.workload_names())


if __name__ == '__main__':
  cli_usage.run(main, help_footer=workload_list)
