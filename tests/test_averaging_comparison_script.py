"""benchmarks/averaging_comparison.py: reading a trial's outcome and judging the claims."""

import math
import os
import sys

import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), 'benchmarks'))
import averaging_comparison as comparison  # noqa: E402


def _csv(tmp_path, name, scores, values, members=None, single=None):
  frame = pd.DataFrame({'global_step': [10 * (i + 1) for i in range(len(scores))],
                        'score': scores, 'validation/accuracy': values})
  if members is not None:
    frame['ensemble_members'] = members
    frame['ensemble_extra_bytes'] = [m * 2**20 for m in members]
    frame['last_member/validation/accuracy'] = single
  path = tmp_path / f'{name}.csv'
  frame.to_csv(path, index=False)
  return str(path)


def test_outcome_reads_the_first_time_at_target_and_the_last_members(tmp_path):
  path = _csv(tmp_path, 'snap', [1.0, 2.0, 3.0], [0.5, 0.91, 0.93], members=[0, 2, 3],
              single=[float('nan'), 0.9, 0.92])
  outcome = comparison.read_outcome('snapshot_ensemble', path, 'accuracy', 0.9, True)
  assert outcome.time_to_target == 2.0 and outcome.final == 0.93
  assert outcome.final_single == 0.92 and outcome.members == 3 and outcome.extra_mib == 3.0
  assert outcome.steps == 30
  never = comparison.read_outcome('x', _csv(tmp_path, 'slow', [1.0], [0.5]), 'accuracy',
                                  0.9, True)
  assert math.isinf(never.time_to_target) and never.members == 1
  assert never.final_single == never.final


def test_claims_say_which_way_each_went():
  def outcome(name, time, final, single=None, members=1):
    return comparison.Outcome(name, time, final, final if single is None else single,
                              members, 0.0, 100)

  outcomes = {'nadamw': outcome('nadamw', 10.0, 0.90),
              'swa': outcome('swa', 12.0, 0.89),
              'snapshot_ensemble': outcome('snapshot_ensemble', 9.0, 0.93, 0.91, 5),
              'freezeout': outcome('freezeout', 7.0, 0.885)}
  found = dict(comparison.claims(outcomes, higher_is_better=True))
  assert found['SWA improves on its base optimizer\'s (NAdamW) final metric'].startswith('no')
  assert found['Snapshot ensemble of 5 beats its single last snapshot at equal budget'
               ].startswith('yes')
  assert found['Snapshot ensemble beats NAdamW at equal budget'].startswith('yes')
  freeze = [v for k, v in found.items() if k.startswith('FreezeOut')][0]
  assert freeze.startswith('yes')  # 30% faster, 1.7% relative loss
  # For a loss-like metric (lower is better) the same numbers read the other way.
  lower = dict(comparison.claims(outcomes, higher_is_better=False))
  assert lower['SWA improves on its base optimizer\'s (NAdamW) final metric'].startswith('yes')
  table = comparison.markdown('mnist1d', outcomes, 'accuracy', True)
  assert table.count('\n| ') == 5 and '**yes' in table


def test_docs_part_between_the_markers_is_replaced(tmp_path):
  page = tmp_path / 'page.md'
  page.write_text(f'intro\n{comparison.START}\nold\n{comparison.END}\noutro\n')
  comparison.write_docs(str(page), 'new table\n')
  assert page.read_text() == f'intro\n{comparison.START}\nnew table\n{comparison.END}\noutro\n'


def test_sections_of_earlier_runs_are_kept(tmp_path):
  for name in ('mnist1d', 'char_lm'):
    (tmp_path / name).mkdir()
    (tmp_path / name / comparison.SECTION).write_text(f'### {name}\n')
  (tmp_path / 'unfinished').mkdir()
  assert comparison.stored_sections(str(tmp_path)) == ['### char_lm\n', '### mnist1d\n']
