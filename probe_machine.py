r"""Measure this machine's speed per workload: the reference step's steps/s, with its spread.

The same probe `run_suite.py` runs before a suite (docs/machine_probe.md): NAdamW's compiled
train step at each workload's batch size, --repeats x --seconds, plus one eval pass. Writes
<output_dir>/machine_probe.json and prints a table; with --compare, this machine's factor
per workload against the baselines' probe.

  python probe_machine.py                               # the suite's base workloads
  python probe_machine.py --workloads=mnist1d --seconds=0.5 --repeats=5
"""

import os

from absl import flags

# Light imports only, so --help is fast; the probe (JAX, workloads) is imported in main().
from algoperf import cli_usage
from algoperf import suite as suite_lib

flags.DEFINE_list('workloads', [],
                  'Workloads to probe ("base" and "variants" name the suite\'s groups; '
                  'default: its base workloads).')
flags.DEFINE_string('suite', suite_lib.LITE, 'Suite definition (name or path).')
flags.DEFINE_float('seconds', 1.0, 'Measured seconds per repeat and workload.')
flags.DEFINE_integer('repeats', 3, 'Repeats per workload (the spread is over these).')
flags.DEFINE_string('output_dir', '.', 'Where machine_probe.json goes.')
flags.DEFINE_string('data_dir', '', 'Dataset location / cache of generated data, as for '
                    'run_suite.py (default: each workload\'s own default).')
flags.DEFINE_string('note', None, 'A note stored in the JSON (e.g. what machine this is).')
flags.DEFINE_string('compare', None,
                    'Baselines folder to compare with (e.g. baselines/lite_v1/runs).')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from absl import app
  try:
    suite = suite_lib.load_suite(FLAGS.suite)
    names = suite.select(list(FLAGS.workloads))
  except suite_lib.SuiteError as e:
    raise app.UsageError(str(e)) from e
  from algoperf import logs, speed_compare, speed_probe
  result = speed_probe.probe(names, data_dir=os.path.expanduser(FLAGS.data_dir),
                             seconds=FLAGS.seconds, repeats=FLAGS.repeats, print_fn=print)
  if FLAGS.note:
    result['note'] = FLAGS.note
  path = os.path.join(FLAGS.output_dir, speed_probe.PROBE_FILE)
  logs.write_json(path, result)
  print('\n'.join(speed_probe.table_lines(result)))
  if FLAGS.compare:
    reference = speed_compare.load_reference(FLAGS.compare)
    print(speed_compare.text(speed_compare.speed_notice(result, reference, names)))
  print(f'\nWrote {path}')
  return 1 if any('error' in w for w in result['workloads'].values()) else 0


def _footer() -> str:
  suite = suite_lib.load_suite(suite_lib.LITE)
  return (f'Workloads of {suite.benchmark_version}: {", ".join(suite.base_workloads)}; '
          f'variants: {", ".join(suite.variants)}.\nHow to read the probe: '
          'docs/machine_probe.md')


if __name__ == '__main__':
  cli_usage.run(main, help_footer=_footer)
