r"""Regenerate the stored baseline logs of a suite (committed, so nobody has to rerun them).

Each reference algorithm runs the external ruleset (by default 1 study x 5 trials, the
points of its list-form search space in order) from a fixed seed, on this machine, through
the same code path as `run_suite.py`. Checkpoints are deleted afterwards; the logs stay (a few kB per trial).
A manifest records the protocol, the machine, its speed probe (taken before training,
`algoperf/speed_probe.py`) and the wall time.

  python baselines/regenerate.py                     # every algorithm below
  python baselines/regenerate.py --algorithms=adam   # just one (replaces its logs)
  python baselines/regenerate.py --algorithms=nadamw --workloads=variants
                                                     # add (or redo) its variant runs only

With --workloads, only those workloads are run (in a scratch folder, then moved in) and
the algorithm's other stored workloads are kept, so the protocol (trials, studies, seed)
must match theirs. With --output_dir (a new folder), the baselines are recorded there
instead, e.g. to compare a run with baselines re-recorded on the same machine
(docs/machine_probe.md):

  python baselines/regenerate.py --algorithms=nadamw --workloads=mnist1d --output_dir=here
  python run_suite.py --baselines_dir=here/runs

One set, one machine: adding to a set recorded at another speed (more than the probe's
tolerance apart) is refused unless --mixed_machines, which stores them marked as such.
"""

import json
import os
import platform
import shutil
import sys
import tempfile
import time

import jax
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf import (  # noqa: E402
  baseline_tables,
  checkpoint,
  logs,
  speed_compare,
  speed_probe,
  suite_runner,
)
from algoperf import suite as suite_lib  # noqa: E402
from workloads import registry  # noqa: E402

# The externally tuned reference algorithms, each run on the points of its list-form search
# space `reference_algorithms/<name>/tuning_search_space_fixed.json`. NAdamW's five points are
# the ones tuned per workload when the targets were calibrated (benchmarks/calibration/points/);
# AdamW, Adam, NAdam, Adafactor, SAM, Shampoo and Schedule-Free AdamW reuse them; RMSProp
# rescales them to the same step size; SGD, Momentum and Nesterov share a learning-rate ladder
# and LAMB (steps relative to |θ|) has its own. SWA, FGE and snapshot ensembles run NAdamW's
# points with their own averaging or cycle settings, FreezeOut a Nesterov ladder
# (reference_algorithms/README.md).
ALGORITHMS = ('nadamw', 'adam', 'adamw', 'nadam', 'momentum', 'nesterov', 'sgd', 'rmsprop',
              'lamb', 'adafactor', 'sam', 'shampoo', 'schedule_free_adamw', 'swa', 'fge',
              'snapshot_ensemble', 'freezeout')
FIXED_SPACE = 'tuning_search_space_fixed.json'
SEED = 0
MANIFEST = 'manifest.json'

flags.DEFINE_list('algorithms', list(ALGORITHMS), 'Baselines to (re)generate.')
flags.register_validator('algorithms', lambda names: set(names) <= set(ALGORITHMS),
                         f'--algorithms must be among {", ".join(ALGORITHMS)}')
flags.DEFINE_string('suite', suite_lib.LITE, 'Suite definition (name or path).')
flags.DEFINE_integer('num_tuning_trials', 5, 'Trials per study (points of the fixed list).')
flags.DEFINE_integer('num_studies', 1, 'Studies per workload.')
flags.DEFINE_list('workloads', [],
                  'Only these workloads ("base" and "variants" name the suite\'s groups), '
                  'replacing just their logs and keeping the algorithm\'s others. Default: '
                  'every base workload, replacing all its logs.')
flags.DEFINE_bool('rescore', False,
                  'Train nothing: recompute the manifest times to target of --algorithms from '
                  'their stored logs against the current targets (after a target change).')
flags.DEFINE_string('output_dir', None,
                    'Where the manifest and runs/ go (default: baselines/<suite version> in '
                    'this repository, the stored baselines).')
flags.DEFINE_string('data_dir', '', 'Dataset location (default: each workload\'s own).')
flags.DEFINE_string('score_run', None,
                    'After recording, score the suite run in this --experiment_dir of '
                    'run_suite.py against the baselines just recorded (use with --output_dir): '
                    'the like-for-like comparison, written to <score_run>/'
                    'leaderboard_like_for_like/.')
flags.DEFINE_bool('mixed_machines', False,
                  'Record into a baseline set whose other algorithms ran on a machine of another '
                  'speed (more than the speed tolerance apart on some workload). Refused by '
                  'default: their times would not be comparable. The leaderboard and the tables '
                  'then mark the algorithms recorded here (docs/machine_probe.md).')
FLAGS = flags.FLAGS
LIKE_FOR_LIKE = 'leaderboard_like_for_like'


def _prune_checkpoints(directory: str) -> None:
  for parent, dirs, _ in os.walk(directory):
    if checkpoint.CHECKPOINT_SUBDIR in dirs:
      shutil.rmtree(os.path.join(parent, checkpoint.CHECKPOINT_SUBDIR))
      dirs.remove(checkpoint.CHECKPOINT_SUBDIR)


def _machine() -> dict:
  return {'platform': platform.platform(), 'cpu_count': os.cpu_count(),
          'device_kind': jax.devices()[0].device_kind, 'jax_version': jax.__version__}


def _protocol(name: str) -> dict:
  return {'tuning_search_space': os.path.join('reference_algorithms', name, FIXED_SPACE),
          'rng_seed': SEED, 'num_studies': FLAGS.num_studies,
          'num_tuning_trials': FLAGS.num_tuning_trials}


def _run(suite: suite_lib.Suite, name: str, experiment_dir: str, data_dir: str,
         workloads: list[str]) -> tuple[suite_runner.SuiteRunConfig, list, float]:
  """Train one algorithm on `workloads` (all base workloads if empty) from scratch."""
  protocol = _protocol(name)
  config = suite_runner.SuiteRunConfig(
      submission_path=os.path.join(ROOT, 'reference_algorithms', name, 'submission.py'),
      experiment_dir=experiment_dir, submission_name=name, tuning_ruleset='external',
      tuning_search_space=os.path.join(ROOT, protocol['tuning_search_space']),
      rng_seed=SEED, num_tuning_trials=FLAGS.num_tuning_trials,
      num_studies=FLAGS.num_studies, workloads=tuple(workloads), data_dir=data_dir,
      save_checkpoints=False, overwrite=True, show_progress=False)
  start = time.perf_counter()
  runs = suite_runner.run_suite(suite, config, registry.get_workload,
                                registry.base_workload_name)
  _prune_checkpoints(config.submission_dir)
  print('\n'.join(suite_runner.summary_lines(suite, runs)), flush=True)
  return config, runs, round(time.perf_counter() - start, 1)


def _rescore(suite: suite_lib.Suite, out_dir: str, manifest: dict, manifest_path: str) -> None:
  stored = manifest['algorithms']
  names = (FLAGS.algorithms if FLAGS['algorithms'].present
           else [n for n in ALGORITHMS if n in stored])
  missing = [n for n in names if n not in stored]
  if missing:
    raise app.UsageError(f'{missing}: no stored baseline in {manifest_path} to rescore')
  times = baseline_tables.times_to_target(suite, os.path.join(out_dir, 'runs'), names)
  for name in names:
    stored[name]['time_to_target_sec'] = times[name]


def _record_probe(manifest: dict, name: str, probe: dict, replace: bool) -> None:
  """The machine's probe joins the algorithm's entry; a full run takes it off the list of
  baselines that lack one. Added workloads keep the date and host they were probed on."""
  entry = manifest['algorithms'][name]
  if replace or 'probe' not in entry:
    entry['probe'] = probe
  else:
    entry['probe']['workloads'].update({w: {**r, 'date': probe['date'],
                                            'hostname': probe['hostname']}
                                        for w, r in probe['workloads'].items()})
  missing = manifest.get(speed_compare.PROBES_KEY, {}).get('missing', [])
  if replace and name in missing:
    missing.remove(name)


def _check_one_machine(manifest: dict, runs_dir: str, out_dir: str, probe: dict,
                       adding: bool) -> None:
  """Refuse to add baselines recorded at another speed than the ones the set keeps, unless
  --mixed_machines: one set, one machine, or its times are not comparable."""
  kept = dict(manifest['algorithms']) if adding else {
      n: e for n, e in manifest['algorithms'].items() if n not in FLAGS.algorithms}
  if not kept:
    return
  reference = speed_compare.reference_of({**manifest, 'algorithms': kept}, runs_dir, out_dir)
  off = [f for f in speed_compare.compare(probe, reference, sorted(probe['workloads']))
         if f.out_of_tolerance]
  if off and not FLAGS.mixed_machines:
    unstable = any(f.unstable for f in off)
    raise app.UsageError(
        f'This machine\'s speed differs from the one that recorded {", ".join(sorted(kept))} '
        f'in {out_dir} by more than {speed_compare.TOLERANCE:.0%}: '
        + speed_compare.speeds_text(off) + '. Their times would not be comparable. Record '
        'elsewhere (--output_dir=<new folder>, with the algorithms to compare against), or pass '
        '--mixed_machines to store them anyway, marked as recorded on another machine.'
        + (' An unstable probe (this one or theirs) means the speed moved while it was '
           'measured: if this is the machine that recorded them, pass --mixed_machines; the '
           'entries keep their probes.' if unstable else ''))
  if off:
    print(f'--mixed_machines: recording on a machine of another speed ('
          f'{speed_compare.speeds_text(off)}); the tables and the leaderboard mark each baseline '
          'whose own probe differs from the set\'s machine.', flush=True)


def main(argv):
  del argv
  suite = suite_lib.load_suite(FLAGS.suite)
  out_dir = os.path.abspath(FLAGS.output_dir or os.path.join(ROOT, 'baselines',
                                                              suite.benchmark_version))
  runs_dir = os.path.join(out_dir, suite_runner.RUNS)
  # Each workload's own data location (a given --data_dir would be the only place read).
  data_dir = FLAGS.data_dir
  manifest_path = os.path.join(out_dir, MANIFEST)
  manifest = logs.read_json(manifest_path) if os.path.exists(manifest_path) else {
      'suite': suite.benchmark_version, 'algorithms': {}}
  if FLAGS.rescore:
    _rescore(suite, out_dir, manifest, manifest_path)
    logs.write_json(manifest_path, manifest)
    print(json.dumps(manifest, indent=2))
    return
  try:
    workloads = suite.select(FLAGS.workloads) if FLAGS.workloads else []
  except suite_lib.SuiteError as e:
    raise app.UsageError(str(e)) from e
  for name in FLAGS.algorithms:
    entry = manifest['algorithms'].get(name)
    if workloads and entry is not None and any(
        entry.get(k) != v for k, v in _protocol(name).items()):
      raise app.UsageError(
          f'{name}: --workloads adds to stored logs of the same protocol {_protocol(name)}, '
          f'and {manifest_path} has {entry and {k: entry.get(k) for k in _protocol(name)}}; '
          'regenerate the whole algorithm (no --workloads) instead.')
  os.makedirs(out_dir, exist_ok=True)
  probe = speed_probe.probe(suite.select(FLAGS.workloads), data_dir=data_dir, print_fn=print)
  print('\n'.join(speed_probe.table_lines(probe)), flush=True)
  _check_one_machine(manifest, runs_dir, out_dir, probe, adding=bool(workloads))
  for name in FLAGS.algorithms:
    fresh = not workloads or name not in manifest['algorithms']
    if fresh:  # Also --workloads for an algorithm not stored here (a new --output_dir).
      # Into <out_dir>/runs/<name>, where the scorer and --workloads look for it.
      _, runs, wall = _run(suite, name, out_dir, data_dir, workloads)
      # wall_sec: the whole run (the base suite unless --workloads).
      entry = manifest['algorithms'][name] = {
          **_protocol(name), 'time_to_target_sec': {}, 'failed': {}, 'wall_sec': wall}
      _record_probe(manifest, name, probe, replace=True)
    else:
      # A scratch folder beside the stored runs: a failed run leaves the stored logs intact.
      scratch = tempfile.mkdtemp(prefix=f'.{name}-', dir=out_dir)
      config, runs, _ = _run(suite, name, scratch, data_dir, workloads)
      suite_runner.move_workload_runs(config.submission_dir, os.path.join(runs_dir, name),
                                      workloads)
      shutil.rmtree(scratch)
      entry = manifest['algorithms'][name]
      _record_probe(manifest, name, probe, replace=False)
    entry['time_to_target_sec'].update({r.workload: r.time_to_target() for r in runs})
    entry['failed'] = {**{w: e for w, e in entry['failed'].items() if w not in workloads},
                       **{r.workload: r.error for r in runs if r.error}}
    entry.setdefault('workload_wall_sec', {}).update(
        {r.workload: round(r.wall_sec, 1) for r in runs})
    if fresh:
      entry['machine'] = _machine()
    elif _machine() != entry['machine']:  # Added runs from another machine say so.
      entry.setdefault('workload_machine', {}).update({r.workload: _machine() for r in runs})
    logs.write_json(manifest_path, manifest)
  print(json.dumps(manifest, indent=2))
  if FLAGS.score_run:
    _score_like_for_like(suite, FLAGS.score_run, runs_dir)


def _score_like_for_like(suite: suite_lib.Suite, experiment_dir: str, runs_dir: str) -> None:
  """Score a suite run (`run_suite.py --experiment_dir`) against the baselines just recorded
  on this machine: the like-for-like leaderboard, beside the run's own."""
  output_dir = os.path.join(experiment_dir, LIKE_FOR_LIKE)
  result, _ = suite_runner.score_suite(suite, experiment_dir, runs_dir, output_dir=output_dir,
                                       analyse=False)
  from algoperf import scoring
  print('\nLike-for-like (baselines recorded on this machine):\n'
        + scoring.terminal_table(result, highlight=suite_runner.own_runs(result.submissions)))
  print(f'\nLeaderboard: {os.path.join(output_dir, "leaderboard.html")}')


if __name__ == '__main__':
  app.run(main)
