"""Scorer corruption catalogue: every way a trial's logs can be corrupt is reported (file, row,
rule), excludes the trial and marks its submission by default, and is refused under --strict;
clean logs (AlgoPerf's columns, a diverged run, the stored baselines) raise nothing."""

import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from scoring_fixtures import targets_dict, write_trial

from algoperf import scoring

HERE = pathlib.Path(__file__).parent
REPO_ROOT = HERE.parents[1]
TARGETS_DATA = targets_dict({'mnist': {'validation_target': 0.9},
                             'wmt': {'metric': 'loss', 'higher_is_better': False,
                                     'validation_target': 2.0}}, trials=2)
TARGETS = scoring.targets_from_dict(TARGETS_DATA)
# submission -> workload -> trial -> (scores, validation values); every trial reaches.
TRIALS = {
    'alpha': {'mnist': {1: ([10, 20, 30], [0.5, 0.8, 0.95]), 2: ([10, 20, 30], [0.5, 0.91, 0.95])},
              'wmt': {1: ([10, 20, 30], [5, 3, 1.9]), 2: ([10, 20, 30], [5, 1.5, 1.0])}},
    'beta': {'mnist': {1: ([10, 40, 60], [0.5, 0.7, 0.92]),
                       2: ([10, 20, 30, 40], [0.5, 0.6, 0.7, 0.95])},
             'wmt': {1: ([10, 50, 70], [5, 3, 1.8]), 2: ([10, 20, 30, 40], [5, 4, 3, 1.9])}},
}
METRIC = {'mnist': 'accuracy', 'wmt': 'loss'}
# beta's time once its corrupt trial_2 is left out: that of trial_1.
WITHOUT_TRIAL_2 = {'mnist': 60.0, 'wmt': 70.0}
NOTE = 'beta: 1 trial(s) excluded: corrupt logs'


def _tree(root: pathlib.Path) -> None:
  for submission, workloads in TRIALS.items():
    for workload, trials in workloads.items():
      for trial, (scores, values) in trials.items():
        write_trial(str(root / submission), 0, workload, trial, scores, values,
                    metric=METRIC[workload])


def _trial(root: pathlib.Path, workload: str, trial: int = 2) -> pathlib.Path:
  return root / 'beta' / 'study_0' / f'{workload}_jax' / f'trial_{trial}'


def _eval_file(trial: pathlib.Path) -> pathlib.Path:
  return trial / 'eval_measurements.csv'


def _edit(trial: pathlib.Path, row: int, **cells) -> None:
  """Overwrite cells of data row `row` (1-based) with the given text."""
  path = _eval_file(trial)
  with open(path, newline='') as f:
    rows = list(csv.reader(f))
  for column, text in cells.items():
    rows[row][rows[0].index(column.replace('__', '/'))] = text
  with open(path, 'w', newline='') as f:
    csv.writer(f, lineterminator='\n').writerows(rows)


def _drop_cells(trial: pathlib.Path, row: int, keep: int, line_end: bool = True) -> None:
  """Keep only the first `keep` cells of data row `row`, as a write killed mid-row does."""
  path = _eval_file(trial)
  lines = path.read_text().splitlines()
  lines[row] = ','.join(lines[row].split(',')[:keep])
  path.write_text('\n'.join(lines) + ('\n' if line_end else ''))


def _link(target: pathlib.Path, link: pathlib.Path) -> None:
  shutil.rmtree(link)
  os.symlink(target, link)


def _elsewhere(trial: pathlib.Path) -> None:
  moved = trial.parents[4] / 'elsewhere'
  shutil.move(trial, moved)
  os.symlink(moved, trial)


def _copy_of_trial_1(trial: pathlib.Path) -> None:
  shutil.rmtree(trial)
  shutil.copytree(trial.parent / 'trial_1', trial)


def _same_seed_and_hparams(trial: pathlib.Path) -> None:
  for t in (trial.parent / 'trial_1', trial):
    (t / 'meta_data_0.json').write_text(json.dumps({'rng_seed': 7, 'workload': 'mnist'}))
    (t / 'hparams.json').write_text(json.dumps({'learning_rate': 0.1}))


def _void(trial: pathlib.Path) -> None:
  """The runner's verdict that the trial's clock was tampered with (algoperf.isolation)."""
  (trial / 'trial_summary.json').write_text(json.dumps(
      {'status': 'clock_mismatch', 'error': 'something changed the clock'}))


# name: (workload, corrupt(trial_2 folder), rule, row or None for the whole trial)
CASES = {
    'cut_short_last_line': ('mnist', lambda t: _drop_cells(t, 4, 5, line_end=False),
                            'short_row', 4),
    'row_with_fewer_cells': ('wmt', lambda t: _drop_cells(t, 2, 9), 'short_row', 2),
    'last_line_without_line_end': ('mnist', lambda t: _eval_file(t).write_text(
        _eval_file(t).read_text().rstrip('\n')), 'short_row', 4),
    'nan_metric_mid_file': ('mnist', lambda t: _edit(t, 2, validation__accuracy='nan'),
                            'non_finite_metric', 2),
    'inf_accuracy': ('mnist', lambda t: _edit(t, 2, validation__accuracy='inf'),
                     'non_finite_metric', 2),
    'inf_accuracy_last_row': ('mnist', lambda t: _edit(t, 4, validation__accuracy='inf'),
                              'non_finite_metric', 4),
    'minus_inf_loss': ('wmt', lambda t: _edit(t, 2, validation__loss='-inf'),
                       'non_finite_metric', 2),
    'inf_test_metric': ('wmt', lambda t: _edit(t, 1, test__loss='-inf'), 'non_finite_metric', 1),
    'negative_score': ('mnist', lambda t: _edit(t, 1, score='-10',
                                                accumulated_submission_time='-10'),
                       'negative_time', 1),
    'score_goes_back': ('mnist', lambda t: _edit(t, 3, score='15',
                                                 accumulated_submission_time='15'),
                        'time_decreases', 3),
    'global_step_goes_back': ('wmt', lambda t: _edit(t, 3, global_step='150'),
                              'time_decreases', 3),
    'submission_time_goes_back': ('wmt', lambda t: _edit(t, 3, accumulated_submission_time='15'),
                                  'time_decreases', 3),
    'score_disagrees_with_submission_time': ('mnist', lambda t: _edit(t, 2, score='25'),
                                             'score_mismatch', 2),
    'symlink_to_another_trial': ('mnist', lambda t: _link(t.parent / 'trial_1', t),
                                 'symlink', None),
    'symlink_to_a_folder_elsewhere': ('wmt', _elsewhere, 'symlink', None),
    'copied_trial_folder': ('wmt', _copy_of_trial_1, 'duplicate', None),
    'same_seed_and_hparams': ('mnist', _same_seed_and_hparams, 'duplicate', None),
    'runner_declared_void': ('wmt', _void, 'void_trial', None),
}


def _corrupt_tree(tmp_path, case):
  workload, corrupt, rule, row = CASES[case]
  root = tmp_path / 'logs'
  _tree(root)
  trial = _trial(root, workload)
  corrupt(trial)
  path = trial if row is None else _eval_file(trial)
  return root, workload, rule, row, path


def _score(root, strict=False):
  return scoring.score_directory(str(root), TARGETS, scoring.ScoringOptions(strict=strict))


@pytest.mark.parametrize('case', sorted(CASES))
def test_corruption_is_reported_excluded_and_refused_under_strict(tmp_path, case):
  root, workload, rule, row, path = _corrupt_tree(tmp_path, case)
  where = f'{path} row {row}:' if row else f'{path}:'
  result = _score(root)
  # (a) reported, naming the file, row and rule
  assert any(m.startswith(where) and f'[{rule}]' in m for m in result.issues), result.issues
  # (b) the trial is left out of scoring and its submission marked
  excluded = result.excluded[['submission', 'workload', 'trial']].to_dict('records')
  assert excluded == [{'submission': 'beta', 'workload': workload, 'trial': 'trial_2'}]
  assert rule in result.excluded['rules'].iloc[0].split(',')
  kept = result.trials[result.trials['submission'] == 'beta']
  assert kept[kept['workload'] == workload]['trial'].tolist() == ['trial_1']
  assert result.times.loc['beta', workload] == WITHOUT_TRIAL_2[workload]
  text = scoring.terminal_table(result)
  assert NOTE in text and 'alpha: ' not in text
  # (c) refused under strict, with the problem named
  with pytest.raises(scoring.ScoringError, match='refusing to score') as refused:
    _score(root, strict=True)
  assert where in str(refused.value) and f'[{rule}]' in str(refused.value)


def _assert_clean(root):
  result = _score(root, strict=True)
  assert result.issues == () and result.excluded.empty
  assert 'excluded' not in scoring.terminal_table(result)
  return result


def test_clean_logs_raise_no_issue(tmp_path):
  _tree(tmp_path / 'logs')
  result = _assert_clean(tmp_path / 'logs')
  assert result.times.loc['beta', 'mnist'] == 40.0 and result.times.loc['beta', 'wmt'] == 40.0


def test_diverged_tail_round_off_and_algoperf_columns_raise_no_issue(tmp_path):
  root = tmp_path / 'logs'
  _tree(root)
  # A diverged run: from some row on, every value is nan or the losing infinity.
  _edit(_trial(root, 'wmt'), 3, validation__loss='inf', test__loss='nan')
  _edit(_trial(root, 'wmt'), 4, validation__loss='nan', test__loss='nan')
  _edit(_trial(root, 'mnist'), 4, validation__accuracy='nan', test__accuracy='-inf')
  # Float round-off between score and accumulated_submission_time.
  _edit(_trial(root, 'mnist', 1), 2, score='40.000000000001')
  # AlgoPerf's runner: its own columns only, alphabetical, no accumulated_submission_time.
  algoperf = _eval_file(root / 'alpha' / 'study_0' / 'mnist_jax' / 'trial_1')
  frame = pd.read_csv(algoperf)
  frame[['accumulated_eval_time', 'global_step', 'preemption_count', 'score',
         'validation/accuracy']].to_csv(algoperf, index=False)
  result = _assert_clean(root)
  assert result.times.loc['beta', 'wmt'] == 70.0  # the diverged trial just never reaches


def test_stored_baselines_including_diverged_runs_raise_no_issue():
  targets = scoring.load_targets('lite_v1')
  runs = REPO_ROOT / 'baselines' / 'lite_v1' / 'runs'
  issues = scoring.Issues(strict=True)
  for name in ('sgd', 'nesterov'):  # both hold trials that diverged to nan
    assert not scoring.read_submission(str(runs / name), targets, issues).empty
  assert issues.messages == [] and issues.excluded == []


def test_an_infinite_metric_never_meets_a_target():
  accuracy = TARGETS.workloads['mnist']
  loss = TARGETS.workloads['wmt']
  assert accuracy.meets([float('inf'), 0.95, float('nan')], 'validation').tolist() == [
      False, True, False]
  assert loss.meets([float('-inf'), 1.0, float('nan')], 'validation').tolist() == [
      False, True, False]


def _cli(*args):
  return subprocess.run([sys.executable, str(REPO_ROOT / 'score_submissions.py'), *args],
                        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)


def test_cli_marks_the_submission_by_default_and_refuses_under_strict(tmp_path):
  root = tmp_path / 'logs'
  _tree(root)
  _drop_cells(_trial(root, 'mnist'), 4, 5, line_end=False)
  _edit(_trial(root, 'wmt'), 2, validation__loss='-inf')
  targets = tmp_path / 'targets.json'
  scoring.write_targets(TARGETS_DATA, str(targets))
  common = ['--submission_directory', str(root), '--workload_targets', str(targets)]
  done = _cli(*common, '--output_dir', str(tmp_path / 'out'))
  assert done.returncode == 0, done.stderr
  note = 'beta: 2 trial(s) excluded: corrupt logs'
  assert note in done.stdout
  out = tmp_path / 'out'
  assert note in (out / 'leaderboard.html').read_text()
  assert note in (out / 'leaderboard.md').read_text()
  assert len(pd.read_csv(out / 'excluded_trials.csv')) == 2
  assert '[short_row]' in (out / 'issues.txt').read_text()

  strict = _cli(*common, '--output_dir', str(tmp_path / 'strict'), '--strict')
  assert strict.returncode == 1
  assert strict.stderr.count('error: refusing to score (--strict): 2 trial(s)') == 1
  for workload, rule in (('mnist', 'short_row'), ('wmt', 'non_finite_metric')):
    assert f'{_eval_file(_trial(root, workload))} row ' in strict.stderr
    assert f'[{rule}]' in strict.stderr
  assert not (tmp_path / 'strict' / 'scores.csv').exists()

