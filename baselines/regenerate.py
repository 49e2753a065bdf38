r"""Regenerate the stored baseline logs of a suite (committed, so nobody has to rerun them).

Each reference algorithm runs the external ruleset (by default 1 study x 5 trials, the
points of its list-form search space in order) from a fixed seed, on this machine, through
the same code path as `run_suite.py`. Checkpoints are deleted afterwards; the logs stay (a few kB per trial).
A manifest records the protocol, the machine and the wall time.

  python baselines/regenerate.py                     # every algorithm below
  python baselines/regenerate.py --algorithms=adam   # just one (replaces its logs)
"""

import json
import os
import platform
import shutil
import sys
import time

import jax
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf import baseline_tables, checkpoint, logs, suite_runner  # noqa: E402
from algoperf import suite as suite_lib  # noqa: E402
from workloads import registry  # noqa: E402

# The externally tuned reference algorithms, each run on the points of its list-form search
# space `reference_algorithms/<name>/tuning_search_space_fixed.json`. NAdamW's five points are
# the ones tuned per workload when the targets were calibrated (benchmarks/calibration/points/);
# AdamW, Adam, NAdam, Adafactor, SAM, Shampoo and Schedule-Free AdamW reuse them; RMSProp
# rescales them to the same step size; SGD, Momentum and Nesterov share a learning-rate ladder
# and LAMB (steps relative to |θ|) has its own.
ALGORITHMS = ('nadamw', 'adam', 'adamw', 'nadam', 'momentum', 'nesterov', 'sgd', 'rmsprop',
              'lamb', 'adafactor', 'sam', 'shampoo', 'schedule_free_adamw')
FIXED_SPACE = 'tuning_search_space_fixed.json'
SEED = 0
MANIFEST = 'manifest.json'

flags.DEFINE_list('algorithms', list(ALGORITHMS), 'Baselines to (re)generate.')
flags.register_validator('algorithms', lambda names: set(names) <= set(ALGORITHMS),
                         f'--algorithms must be among {", ".join(ALGORITHMS)}')
flags.DEFINE_string('suite', suite_lib.LITE, 'Suite definition (name or path).')
flags.DEFINE_integer('num_tuning_trials', 5, 'Trials per study (points of the fixed list).')
flags.DEFINE_integer('num_studies', 1, 'Studies per workload.')
flags.DEFINE_bool('rescore', False,
                  'Train nothing: recompute the manifest times to target of --algorithms from '
                  'their stored logs against the current targets (after a target change).')
FLAGS = flags.FLAGS


def _prune_checkpoints(directory: str) -> None:
  for parent, dirs, _ in os.walk(directory):
    if checkpoint.CHECKPOINT_SUBDIR in dirs:
      shutil.rmtree(os.path.join(parent, checkpoint.CHECKPOINT_SUBDIR))
      dirs.remove(checkpoint.CHECKPOINT_SUBDIR)


def main(argv):
  del argv
  suite = suite_lib.load_suite(FLAGS.suite)
  out_dir = os.path.join(ROOT, 'baselines', suite.benchmark_version)
  manifest_path = os.path.join(out_dir, MANIFEST)
  manifest = logs.read_json(manifest_path) if os.path.exists(manifest_path) else {
      'suite': suite.benchmark_version, 'algorithms': {}}
  if FLAGS.rescore:
    stored = manifest['algorithms']
    names = (FLAGS.algorithms if FLAGS['algorithms'].present
             else [n for n in ALGORITHMS if n in stored])
    missing = [n for n in names if n not in stored]
    if missing:
      raise app.UsageError(f'{missing}: no stored baseline in {manifest_path} to rescore')
    times = baseline_tables.times_to_target(suite, os.path.join(out_dir, 'runs'), names)
    for name in names:
      stored[name]['time_to_target_sec'] = times[name]
    logs.write_json(manifest_path, manifest)
    print(json.dumps(manifest, indent=2))
    return
  for name in FLAGS.algorithms:
    folder = os.path.join('reference_algorithms', name)
    space = os.path.join(folder, FIXED_SPACE)
    config = suite_runner.SuiteRunConfig(
        submission_path=os.path.join(ROOT, folder, 'submission.py'),
        experiment_dir=out_dir, submission_name=name, tuning_ruleset='external',
        tuning_search_space=os.path.join(ROOT, space), rng_seed=SEED,
        num_tuning_trials=FLAGS.num_tuning_trials, num_studies=FLAGS.num_studies,
        data_dir=os.path.join(out_dir, 'data'), save_checkpoints=False, overwrite=True,
        show_progress=False)
    start = time.perf_counter()
    runs = suite_runner.run_suite(suite, config, registry.get_workload,
                                  registry.base_workload_name)
    _prune_checkpoints(config.submission_dir)
    print('\n'.join(suite_runner.summary_lines(suite, runs)), flush=True)
    manifest['algorithms'][name] = {
        'tuning_search_space': space, 'rng_seed': SEED,
        'num_studies': FLAGS.num_studies,
        'num_tuning_trials': FLAGS.num_tuning_trials,
        'time_to_target_sec': {r.workload: r.time_to_target() for r in runs},
        'failed': {r.workload: r.error for r in runs if r.error},
        'wall_sec': round(time.perf_counter() - start, 1),
        'machine': {'platform': platform.platform(), 'cpu_count': os.cpu_count(),
                    'device_kind': jax.devices()[0].device_kind,
                    'jax_version': jax.__version__},
    }
    logs.write_json(manifest_path, manifest)
  shutil.rmtree(os.path.join(out_dir, 'data'), ignore_errors=True)
  print(json.dumps(manifest, indent=2))


if __name__ == '__main__':
  app.run(main)
