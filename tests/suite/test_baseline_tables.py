"""The stored-baseline tables: computed from the committed logs, and the README matches them."""

import itertools
import math
import os
import shutil

import pandas as pd
import pytest

from algoperf import baseline_tables, logs
from algoperf import suite as suite_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = suite_lib.load_suite(suite_lib.LITE)
STORED = os.path.join(ROOT, 'baselines', SUITE.benchmark_version)


@pytest.fixture(scope='module')
def manifest():
  return logs.read_json(os.path.join(STORED, 'manifest.json'))


@pytest.fixture(scope='module')
def tables(manifest):
  return baseline_tables.summary(SUITE, os.path.join(STORED, 'runs'), manifest)


def _cells(table):
  """A Markdown table's rows as header -> cell text."""
  lines = table.splitlines()
  header = [c.strip() for c in lines[0].strip('|').split('|')]
  return [dict(zip(header, (c.strip() for c in line.strip('|').split('|')), strict=True))
          for line in lines[2:]]


def _times_shown(tables):
  """(algorithm, workload) -> time-to-target cell, from the summary and variants tables."""
  blocks = tables.split('\n\n')
  shown = {}
  for row in _cells(blocks[1]):
    shown.update({(row['algorithm'], w): cell for w, cell in row.items()
                  if w in SUITE.workloads})
  assert blocks[2].startswith('The variants'), blocks[2]
  for row in _cells(blocks[3]):
    shown[row['algorithm'], row['variant']] = row['time to target']
    assert shown[row['algorithm'], row['its base']] == row['base time to target']
  # The ensembles' own table, when stored baselines evaluate ensembles.
  for intro, table in itertools.pairwise(blocks):
    if intro.startswith('Ensembles'):
      for row in _cells(table):
        assert int(row['members']) > 1 and row['algorithm'] not in {a for a, _ in shown}
        shown.update({(row['algorithm'], w): cell for w, cell in row.items()
                      if w in SUITE.workloads})
  return shown


def test_readme_tables_match_the_committed_logs(tables):
  with open(os.path.join(ROOT, 'baselines', 'README.md'), encoding='utf-8') as f:
    readme = f.read()
  assert baseline_tables.marked_block(readme) == tables, (
      'baselines/README.md is stale: run python baselines/summarize.py --write_readme')


def test_scorer_times_agree_with_the_runner_times_in_the_manifest(tables, manifest):
  shown = _times_shown(tables)
  expected = {(name, workload): '—' if s is None or math.isinf(s) else f'{s:.1f} s'
              for name, entry in manifest['algorithms'].items()
              for workload, s in entry['time_to_target_sec'].items()}
  assert shown == expected


def test_replace_block_swaps_only_the_marked_part():
  begin, end = baseline_tables.MARKERS
  text = f'intro\n{begin}\nold\n{end}\noutro\n'
  replaced = baseline_tables.replace_block(text, 'new\n')
  assert replaced == f'intro\n{begin}\nnew\n{end}\noutro\n'
  assert baseline_tables.marked_block(replaced) == 'new\n'
  with pytest.raises(ValueError, match='summarize:begin'):
    baseline_tables.replace_block('no markers here', 'new\n')


def test_rescoring_the_stored_logs_reproduces_the_manifest(manifest):
  names = list(manifest['algorithms'])
  times = baseline_tables.times_to_target(SUITE, os.path.join(STORED, 'runs'), names)
  for name in names:
    assert times[name] == pytest.approx(manifest['algorithms'][name]['time_to_target_sec'])


def test_ensembles_get_their_own_table_and_leave_the_main_one(tmp_path, manifest):
  """An algorithm whose evals are ensembles (here NAdamW's stored logs relabelled as 'fge')
  is listed apart, with its members, as the leaderboard keeps ensembles apart."""
  runs = tmp_path / 'runs'
  shutil.copytree(os.path.join(STORED, 'runs', 'nadamw'), runs / 'nadamw')
  shutil.copytree(os.path.join(STORED, 'runs', 'nadamw'), runs / 'fge')
  for path in (runs / 'fge').rglob('eval_measurements.csv'):
    frame = pd.read_csv(path)
    frame['ensemble_members'] = 5
    frame['ensemble_extra_bytes'] = 4 * 2**20
    frame.to_csv(path, index=False)
  entries = {'nadamw': manifest['algorithms']['nadamw'],
             'fge': manifest['algorithms']['nadamw']}
  text = baseline_tables.summary(SUITE, os.fspath(runs), {'algorithms': entries})
  blocks = text.split('\n\n')
  assert [row['algorithm'] for row in _cells(blocks[1])] == ['nadamw']
  intro = next(i for i, block in enumerate(blocks) if block.startswith('Ensembles'))
  (ensemble,) = _cells(blocks[intro + 1])
  nadamw_row = _cells(blocks[1])[0]
  assert ensemble['algorithm'] == 'fge' and ensemble['members'] == '5'
  assert {w: ensemble[w] for w in SUITE.base_workloads} == {
      w: nadamw_row[w] for w in SUITE.base_workloads}
