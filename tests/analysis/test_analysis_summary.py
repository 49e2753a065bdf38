"""Per-trial outcomes, the best-trial picker, targets and the summary table on hand-built
trees whose numbers are worked out in analysis_fixtures.hand_built_tree."""

import math

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import hand_built_tree, meta, write_trial

from algoperf import analysis
from algoperf.analysis import results, runs, summary
from algoperf.scoring import targets as targets_lib

INF = math.inf


@pytest.fixture
def tree(tmp_path):
  return hand_built_tree(tmp_path / 'experiments')


def _row(table, submission):
  rows = table[table['submission'] == submission]
  assert len(rows) == 1
  return rows.iloc[0]


def test_summary_table_values_by_hand(tree):
  result = analysis.analyze_directory(str(tree))
  alpha = _row(result.summary, 'alpha')
  assert (alpha['trials'], alpha['studies'], alpha['reached']) == (5, 2, 2)
  assert alpha['time_to_target_median'] == INF  # [300, 200, inf, inf, inf]
  assert alpha['time_to_target_best'] == 200
  assert alpha['best_validation'] == pytest.approx(0.95)  # after the budget, still its best
  assert alpha['best_trial'] == 'study_0/trial_2' and alpha['best_trial_seed'] == 12
  assert alpha['best_hparams'] == {'learning_rate': 0.003}
  beta = _row(result.summary, 'beta')
  assert (beta['trials'], beta['reached']) == (3, 2)
  assert beta['time_to_target_median'] == 400  # [100, 400, inf]
  assert beta['time_to_target_best'] == 100
  assert beta['best_validation'] == pytest.approx(0.85)
  assert beta['best_trial'] == 'study_0/trial_1'
  assert beta['best_hparams'] == {'learning_rate': 0.001, 'weight_decay': 0.1}
  assert (alpha['metric'], alpha['validation_target'], alpha['runs']) == ('accuracy', 0.8,
                                                                          'tuning')


def test_budget_enforcement_is_the_scorers(tree):
  late = lambda r: r.outcomes.set_index(['submission', 'study', 'trial']).loc[  # noqa: E731
      ('alpha', 'study_1', 'trial_2')]
  assert not late(analysis.analyze_directory(str(tree)))['validation_reached']
  free = analysis.analyze_directory(str(tree), analysis.AnalysisOptions(enforce_budget=False))
  assert late(free)['validation_time_to_target'] == 1200
  assert _row(free.summary, 'alpha')['reached'] == 3


def test_outcomes_carry_final_value_seed_and_status(tree):
  outcomes = analysis.analyze_directory(str(tree)).outcomes.set_index(
      ['submission', 'study', 'trial'])
  trial = outcomes.loc[('alpha', 'study_0', 'trial_3')]
  assert trial['validation_final'] == pytest.approx(0.4) and trial['seed'] == 13
  assert trial['status'] == 'budget_exhausted' and trial['hparams'] == {'learning_rate': 0.1}


def _outcomes(reached, times, bests):
  n = len(bests)
  return pd.DataFrame({'trial': [f'trial_{i + 1}' for i in range(n)],
                       'validation_reached': reached, 'validation_time_to_target': times,
                       'validation_best': bests})


def test_best_trial_fastest_to_target_wins_over_best_value():
  # trial_3 ends with the best value but reaches later than trial_2.
  table = _outcomes([True, True, True], [300.0, 200.0, 500.0], [0.82, 0.81, 0.99])
  assert results.best_trial(table, higher_is_better=True)['trial'] == 'trial_2'


def test_best_trial_without_reach_respects_the_direction():
  table = _outcomes([False] * 3, [INF] * 3, [0.3, np.nan, 0.1])
  assert results.best_trial(table, higher_is_better=False)['trial'] == 'trial_3'
  assert results.best_trial(table, higher_is_better=True)['trial'] == 'trial_1'
  assert results.best_trial(_outcomes([False], [INF], [np.nan]), True) is None


def test_best_trial_ties_go_to_the_first_trial():
  table = _outcomes([True, True], [100.0, 100.0], [0.9, 0.95])
  assert results.best_trial(table, higher_is_better=True)['trial'] == 'trial_1'


def test_lower_is_better_workload_summary(tmp_path):
  loss = meta(metric='loss', higher_is_better=False, validation_target=0.05, seed=1)
  write_trial(tmp_path, 'sgd', 0, 'reg', 1, [10, 20], [0.4, 0.2], metric='loss',
              hparams={'learning_rate': 0.1}, meta_data=loss)
  write_trial(tmp_path, 'sgd', 0, 'reg', 2, [10, 20], [0.5, 0.1], metric='loss',
              hparams={'learning_rate': 0.3}, meta_data=loss)
  row = analysis.analyze_directory(str(tmp_path)).summary.iloc[0]
  assert row['reached'] == 0 and row['time_to_target_best'] == INF
  assert row['best_validation'] == pytest.approx(0.1)
  assert row['best_trial'] == 'study_0/trial_2' and row['best_hparams'] == {'learning_rate': 0.3}


def test_one_experiment_folder_is_one_submission(tree):
  result = analysis.analyze_directory(str(tree / 'beta'))
  assert result.summary['submission'].tolist() == ['beta']


def test_targets_file_wins_over_meta_data_and_missing_metric_is_left_out(tree, tmp_path):
  data = {'schema': targets_lib.SCHEMA, 'benchmark_version': 'test', 'base_workloads': ['wl'],
          'rulesets': targets_lib.DEFAULT_RULESETS,
          'workloads': {'wl': {'metric': 'accuracy', 'higher_is_better': True,
                               'validation_target': 0.9, 'test_target': 0.9,
                               'max_runtime_sec': 100.0, 'base_workload': 'wl'}}}
  benchmark = targets_lib.targets_from_dict(data)
  result = analysis.analyze_directory(str(tree), analysis.AnalysisOptions(targets=benchmark))
  assert result.targets['wl'].validation_target == 0.9
  assert result.targets['wl'].max_runtime_sec == 100.0
  # Budget 100 s: only beta's trial_1 (0.85 at 100 s) could count, and 0.85 < 0.9.
  assert result.summary['reached'].tolist() == [0, 0]
  write_trial(tree, 'gamma', 0, 'unknown', 1, [1, 2], [0.1, 0.2])  # no meta_data
  result = analysis.analyze_directory(str(tree))
  assert 'unknown' not in result.targets and 'unknown' not in set(result.summary['workload'])
  assert any("'unknown'" in m and 'target_metric_name' in m for m in result.issues)


def test_unreadable_eval_file_is_reported_not_fatal(tree):
  path = tree / 'beta' / 'study_0' / 'wl_jax' / 'trial_3' / 'eval_measurements.csv'
  path.write_text('')
  result = analysis.analyze_directory(str(tree))
  assert _row(result.summary, 'beta')['trials'] == 2
  assert any(str(path) in m and 'empty' in m for m in result.issues)


def test_display_table_formats_hyperparameters(tree):
  table = summary.display_table(analysis.analyze_directory(str(tree)).summary)
  cells = table.set_index('submission')['tuned hyperparameters (best trial)']
  assert cells['beta'] == 'learning_rate=0.001, weight_decay=0.1'


def test_reader_tags_seed_rerun_folders(tree):
  (tree / 'beta' / 'study_0' / 'wl_jax' / runs.SEED_RERUN_FILE).write_text('{}')
  read = runs.read_runs(str(tree))
  assert set(read.trials[read.trials['submission'] == 'beta']['runs']) == {runs.SEEDS}
  assert set(read.trials[read.trials['submission'] == 'alpha']['runs']) == {runs.TUNING}
