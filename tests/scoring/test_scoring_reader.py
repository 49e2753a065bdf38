"""Reading log trees: layouts, frameworks, preemptions and every malformed input."""

import os

import numpy as np
import pytest
from scoring_fixtures import make_targets, write_trial

from algoperf.scoring import Issues, ScoringError, read_submission, read_submissions

TARGETS = make_targets({'mnist': {'validation_target': 0.9},
                        'cifar': {'validation_target': 0.8}})


def test_direct_and_timestamped_experiment_folders_and_frameworks(tmp_path):
  sub = tmp_path / 'subs' / 'alpha'
  write_trial(str(sub), 0, 'mnist', 1, [10, 20], [0.5, 0.95])
  write_trial(str(sub / 'exp-2024-03-01-12-30-59'), 1, 'mnist', 1, [15], [0.99],
              framework='pytorch')
  write_trial(str(sub / 'exp-2024-03-01-12-30-59'), 1, 'cifar', 2, [30], [0.85])
  issues = Issues()
  table = read_submissions(str(tmp_path / 'subs'), TARGETS, issues)
  assert issues.messages == []
  trials = table.groupby(['workload', 'framework', 'experiment', 'study', 'trial']).size()
  assert trials.to_dict() == {
      ('cifar', 'jax', 'exp-2024-03-01-12-30-59', 'study_1', 'trial_2'): 1,
      ('mnist', 'jax', '.', 'study_0', 'trial_1'): 2,
      ('mnist', 'pytorch', 'exp-2024-03-01-12-30-59', 'study_1', 'trial_1'): 1,
  }
  assert set(table['submission']) == {'alpha'}
  first = table[(table['study'] == 'study_0')]
  assert first['validation'].tolist() == [0.5, 0.95] and first['eval_index'].tolist() == [0, 1]


def test_rows_from_several_preemptions_keep_cumulative_score(tmp_path):
  path = write_trial(str(tmp_path / 's'), 0, 'mnist', 1, [10, 20, 25, 40],
                     [0.1, 0.5, 0.5, 0.95], preemption_counts=[0, 0, 1, 1])
  table = read_submission(str(tmp_path / 's'), TARGETS, Issues())
  assert table['preemption_count'].tolist() == [0, 0, 1, 1]
  assert table['score'].tolist() == [10, 20, 25, 40]
  assert os.path.exists(path)


def _bad_tree(tmp_path):
  """One good trial plus one of each malformed input; returns {problem: path}."""
  root = tmp_path / 'subs' / 'beta'
  write_trial(str(root), 0, 'mnist', 1, [10], [0.95])
  bad = {}
  missing = root / 'study_0' / 'mnist_jax' / 'trial_2'
  missing.mkdir(parents=True)
  bad['missing; trial skipped'] = missing / 'eval_measurements.csv'
  empty = root / 'study_0' / 'mnist_jax' / 'trial_3'
  empty.mkdir()
  (empty / 'eval_measurements.csv').write_text('')
  bad['empty file'] = empty / 'eval_measurements.csv'
  header = root / 'study_0' / 'mnist_jax' / 'trial_4'
  header.mkdir()
  (header / 'eval_measurements.csv').write_text('global_step,score,validation/accuracy\n')
  bad['header but no eval rows'] = header / 'eval_measurements.csv'
  no_metric = root / 'study_0' / 'mnist_jax' / 'trial_5'
  no_metric.mkdir()
  (no_metric / 'eval_measurements.csv').write_text('global_step,score,validation/loss\n1,2,3\n')
  bad["missing required columns ['validation/accuracy']"] = no_metric / 'eval_measurements.csv'
  garbage = root / 'study_0' / 'mnist_jax' / 'trial_6'
  garbage.mkdir()
  (garbage / 'eval_measurements.csv').write_text('a,b\n1,2,3,4\n"unterminated\n')
  bad['malformed CSV'] = garbage / 'eval_measurements.csv'
  text = root / 'study_0' / 'mnist_jax' / 'trial_7'
  text.mkdir()
  (text / 'eval_measurements.csv').write_text('score,validation/accuracy\n10,high\n20,0.95\n')
  bad["non-numeric values in column 'validation/accuracy'"] = text / 'eval_measurements.csv'
  unordered = root / 'study_0' / 'mnist_jax' / 'trial_8'
  unordered.mkdir()
  (unordered / 'eval_measurements.csv').write_text('score,validation/accuracy\n20,0.95\n10,0.5\n')
  bad['row 2: corrupt log [time_decreases] score goes back from 20 to 10; trial excluded'] = (
      unordered / 'eval_measurements.csv')
  unknown = root / 'study_0' / 'imagenet_jax'
  unknown.mkdir()
  bad["workload 'imagenet' is not in the targets file"] = unknown
  stray = root / 'study_0' / 'notes'
  stray.mkdir()
  bad['not a <workload>_<jax|pytorch> folder'] = stray
  no_trials = root / 'study_0' / 'cifar_jax'
  no_trials.mkdir()
  bad['no trial_<i> folders'] = no_trials
  (tmp_path / 'subs' / 'gamma').mkdir()
  bad['no study_<k> folders found'] = tmp_path / 'subs' / 'gamma'
  return bad


def test_every_malformed_input_gets_a_named_warning(tmp_path):
  bad = _bad_tree(tmp_path)
  issues = Issues()
  table = read_submissions(str(tmp_path / 'subs'), TARGETS, issues)
  for problem, path in bad.items():
    assert any(str(path) in m and problem in m for m in issues.messages), problem
  assert len(issues.messages) == len(bad)
  kept = table.groupby('trial')['validation'].apply(list).to_dict()
  assert sorted(kept) == ['trial_1', 'trial_7']  # trial_8, going back in time, is excluded
  assert kept['trial_1'] == [0.95]
  assert np.isnan(kept['trial_7'][0]) and kept['trial_7'][1] == 0.95


def test_strict_turns_the_first_problem_into_an_error(tmp_path):
  _bad_tree(tmp_path)
  with pytest.raises(ScoringError, match='--strict'):
    read_submissions(str(tmp_path / 'subs'), TARGETS, Issues(strict=True))


def test_missing_directory_is_an_error(tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    read_submissions(str(tmp_path / 'nowhere'), TARGETS, Issues())
