"""Submissions that evaluate ensembles are scored in their own category, never in the
AlgoPerf-rules score (docs/ensembles.md)."""

import numpy as np
import pandas as pd
from scoring_fixtures import make_targets, write_trial

from algoperf import scoring
from algoperf.scoring import report

WORKLOADS = {'a': {}, 'b': {}}


def _write(root, submission, times, ensemble_members=0):
  """One study, one trial per workload reaching 0.95 at `times[w]`."""
  for workload, time in times.items():
    path = write_trial(root / submission, 0, workload, 1, [time / 2, time], [0.5, 0.95])
    if ensemble_members:
      frame = pd.read_csv(path)
      frame['ensemble_members'] = [0, ensemble_members]  # the first eval came before any
      frame['ensemble_extra_bytes'] = [0, ensemble_members * 2**20]
      frame.to_csv(path, index=False)


def _score(root):
  return scoring.score_directory(str(root), make_targets(WORKLOADS), scoring.ScoringOptions())


def test_ensemble_submission_is_listed_apart_and_leaves_the_scores_unchanged(tmp_path):
  _write(tmp_path / 'rules', 'fast', {'a': 10.0, 'b': 20.0})
  _write(tmp_path / 'rules', 'slow', {'a': 20.0, 'b': 30.0})
  without = _score(tmp_path / 'rules')
  _write(tmp_path / 'rules', 'snapshots', {'a': 5.0, 'b': 50.0}, ensemble_members=5)
  mixed = _score(tmp_path / 'rules')
  # The ensemble submission is faster on 'a' than anyone: had it been mixed in, 'fast'
  # would lose its ratio of 1 there. The scores are exactly those without it.
  pd.testing.assert_frame_equal(mixed.scores, without.scores)
  assert 'snapshots' not in set(mixed.scores['submission'])
  assert mixed.submissions == ['fast', 'slow', 'snapshots']
  row = mixed.ensembles.loc['snapshots']
  assert row['a'] == 5.0 and row['b'] == 50.0
  assert row['members'] == 5 and row['extra_param_MiB'] == 5.0
  text = report.terminal_table(mixed)
  assert report.ENSEMBLE_TITLE in text and 'snapshots' in text.split(report.ENSEMBLE_TITLE)[1]
  written = report.write_report(mixed, str(tmp_path / 'out'))
  assert any(path.endswith('ensembles.csv') for path in written)
  page = (tmp_path / 'out' / 'leaderboard.html').read_text()
  assert 'outside AlgoPerf' in page
  assert '## Ensembles' in (tmp_path / 'out' / 'leaderboard.md').read_text()


def test_without_ensembles_there_is_no_ensemble_section(tmp_path):
  _write(tmp_path, 'fast', {'a': 10.0, 'b': 20.0})
  result = _score(tmp_path)
  assert result.ensembles.empty
  assert report.ENSEMBLE_TITLE not in report.terminal_table(result)


def test_only_ensemble_submissions_still_get_their_table(tmp_path):
  _write(tmp_path, 'fge', {'a': 10.0, 'b': 20.0}, ensemble_members=3)
  result = _score(tmp_path)
  assert result.scores.empty
  assert result.ensembles.loc['fge', 'members'] == 3
  assert np.isfinite(result.ensembles.loc['fge', 'a'])
