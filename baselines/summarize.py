r"""Markdown tables of the stored baselines, computed from their logs by the scorer's own code.

The tables in baselines/README.md come from here (between the summarize markers), so they
cannot drift from the committed logs (a test compares them):

  python baselines/summarize.py                  # print the tables
  python baselines/summarize.py --write_readme   # replace them in baselines/README.md
"""

import os
import sys

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf import baseline_tables, logs  # noqa: E402
from algoperf import suite as suite_lib  # noqa: E402

README = os.path.join(ROOT, 'baselines', 'README.md')

flags.DEFINE_string('suite', suite_lib.LITE, 'Suite definition (name or path).')
flags.DEFINE_list('per_trial', [baseline_tables.CORE_BASELINE],
                  'Algorithms to break down trial by trial.')
flags.DEFINE_bool('write_readme', False, 'Replace the marked block of baselines/README.md.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  suite = suite_lib.load_suite(FLAGS.suite)
  out_dir = os.path.join(ROOT, 'baselines', suite.benchmark_version)
  manifest = logs.read_json(os.path.join(out_dir, 'manifest.json'))
  block = baseline_tables.summary(suite, os.path.join(out_dir, 'runs'), manifest,
                                  FLAGS.per_trial)
  if FLAGS.write_readme:
    with open(README, encoding='utf-8') as f:
      text = f.read()
    with open(README, 'w', encoding='utf-8') as f:
      f.write(baseline_tables.replace_block(text, block))
  print(block, end='')


if __name__ == '__main__':
  app.run(main)
