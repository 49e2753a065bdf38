"""The stored-baseline tables: computed from the committed logs, and the README matches them."""

import itertools
import math
import os
import shutil

import pandas as pd
import pytest

from algoperf import baseline_tables, logs, speed_compare, suite_runner
from algoperf import suite as suite_lib
from algoperf.scoring.issues import Issues

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


def _name(cell):
  """The algorithm in a table cell, without the mark of a baseline from another machine."""
  return cell.removesuffix(f' {speed_compare.OTHER_MACHINE}')


def _times_shown(tables):
  """(algorithm, workload) -> time-to-target cell, from the summary and variants tables."""
  blocks = tables.split('\n\n')
  shown = {}
  for row in _cells(blocks[1]):
    row['algorithm'] = _name(row['algorithm'])
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
        row['algorithm'] = _name(row['algorithm'])
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


def test_a_baseline_recorded_on_another_machine_is_marked_with_its_factors(tmp_path, manifest):
  """NAdamW's stored logs copied as 'swa', whose own probe says its machine ran NAdamW's step
  at half the speed the core baseline's logs show: its row is marked and the factor given;
  an algorithm probed within tolerance of the core's machine is not marked."""
  runs = tmp_path / 'runs'
  for name in ('nadamw', 'swa', 'adam'):
    shutil.copytree(os.path.join(STORED, 'runs', 'nadamw'), runs / name)
  rate = speed_compare.logged_rates(os.fspath(runs), SUITE.benchmark_version)['mnist1d']

  def probed(steps_per_sec):
    return {**manifest['algorithms']['nadamw'],
            'probe': {'workloads': {'mnist1d': {'steps_per_sec': steps_per_sec}}}}

  mixed = {'suite': SUITE.benchmark_version, 'probes': {'missing': ['nadamw']},
           'algorithms': {'nadamw': manifest['algorithms']['nadamw'], 'swa': probed(rate / 2),
                          'adam': probed(rate * 1.1)}}
  text = baseline_tables.summary(SUITE, os.fspath(runs), mixed)
  rows = [row['algorithm'] for row in _cells(text.split('\n\n')[1])]
  assert rows == ['nadamw', 'adam', f'swa {speed_compare.OTHER_MACHINE}']
  assert '- swa: mnist1d 2.00x slower' in text and '- adam' not in text
  # The leaderboard's names say it too.
  logs.write_json(os.fspath(tmp_path / 'manifest.json'), mixed)
  _, names = suite_runner.read_evals(SUITE, os.fspath(tmp_path / 'mine'), os.fspath(runs),
                                     Issues())
  assert sorted(names) == ['adam [baseline]', 'nadamw [baseline]', 'swa [baseline †]']
  assert suite_runner.own_runs(names) == []
