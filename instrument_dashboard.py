r"""Draw the Cockpit-style dashboard of trials run with --instruments.

  python instrument_dashboard.py --trial_dirs=TRIAL[,TRIAL...] --output_dir=OUT
  python instrument_dashboard.py --experiment_dir=DIR --output_dir=OUT

A trial folder is DIR/<experiment_name>/study_<k>/<workload>_jax/trial_<i>/ holding the
instrument logs (instruments.json, instruments.csv, instrument_histograms/). Several trials
are compared on the same panels, one colour per trial; --experiment_dir takes every trial
below DIR that has instrument logs. OUT receives instrument_dashboard.png and a
self-contained instrument_dashboard.html (the PNG embedded). See docs/instruments.md.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

# The dashboard (JAX via the log writer, pandas, matplotlib) is imported where it is used,
# so --help and usage errors are fast.
from algoperf import cli_usage

flags.DEFINE_list('trial_dirs', [],
                  'Trial folders with instrument logs; several are compared, one colour each.')
flags.DEFINE_string('experiment_dir', None,
                    'Instead of --trial_dirs: every trial folder below this one that has '
                    'instrument logs (instruments.json).')
flags.DEFINE_string('output_dir', 'instrument_dashboard',
                    'Where to write instrument_dashboard.png and instrument_dashboard.html.')
FLAGS = flags.FLAGS


def _trial_dirs() -> list[str]:
  """The trial folders asked for; a usage error names the flag."""
  if bool(FLAGS.trial_dirs) == bool(FLAGS.experiment_dir):
    raise app.UsageError('give --trial_dirs=TRIAL[,TRIAL...] or --experiment_dir=DIR '
                         '(one of the two)')
  if FLAGS.trial_dirs:
    dirs = [os.path.expanduser(d) for d in FLAGS.trial_dirs]
    missing = [d for d in dirs if not os.path.isdir(d)]
    if missing:
      raise app.UsageError(f'--trial_dirs: no such folder: {", ".join(missing)}')
    return dirs
  root = os.path.expanduser(FLAGS.experiment_dir)
  if not os.path.isdir(root):
    raise app.UsageError(f'--experiment_dir: no such folder: {root}')
  from algoperf.instruments import dashboard
  found = dashboard.find_trials(root)
  if not found:
    raise app.UsageError(f'--experiment_dir={root}: no trial folder below it has instrument '
                         'logs (instruments.json); run trials with --instruments')
  return found


def main(argv):
  del argv
  trial_dirs = _trial_dirs()
  from algoperf.instruments import dashboard, log
  try:
    written = dashboard.write(trial_dirs, FLAGS.output_dir)
  except log.NoInstrumentLogs as e:
    print(f'error: --trial_dirs: {e}', file=sys.stderr)
    return 1
  except OSError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(f'Dashboard of {len(trial_dirs)} trial{"s" if len(trial_dirs) > 1 else ""}:')
  for path in written:
    print(f'  {path}')
  return 0


if __name__ == '__main__':
  cli_usage.run(main)
