"""End to end: published AlgoPerf numbers, the CLI on an AlgoPerf-layout tree, and a tree
written by this project's runner."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scoring_fixtures import make_targets, write_trial

from algoperf import logs, runner, scoring, submission

HERE = pathlib.Path(__file__).parent
REPO_ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE.parent), str(REPO_ROOT)]
import toy_workload  # noqa: E402

import score_submissions  # noqa: E402

CLI = REPO_ROOT / 'score_submissions.py'
H = 1 / 33  # tau grid step on [1, 4] with 100 points


def test_reproduces_published_algoperf_scores_from_published_times():
  times = pd.read_csv(HERE / 'data' / 'published_time_to_targets.csv', comment='#',
                      index_col='submission')
  published = pd.read_csv(HERE / 'data' / 'published_scores.csv', comment='#',
                          index_col='submission')['score']
  targets = make_targets({w: {} for w in times.columns})
  result = scoring.score_times(times, targets, scoring.ScoringOptions())
  ours = result.scores.set_index('submission')['score']
  np.testing.assert_allclose(ours[published.index], published, rtol=0, atol=1e-12)


def test_held_out_flag_forms(tmp_path):
  listed = tmp_path / 'held_out.json'
  listed.write_text(json.dumps(['fastmri_tanh', 'wmt_glu_tanh']))
  assert score_submissions.held_out_from_flag('') is None
  assert score_submissions.held_out_from_flag('none') == ()
  assert score_submissions.held_out_from_flag('a, b') == ('a', 'b')
  assert score_submissions.held_out_from_flag(str(listed)) == ('fastmri_tanh', 'wmt_glu_tanh')


def _run_cli(*args):
  return subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True,
                        cwd=REPO_ROOT, timeout=300)


def _algoperf_tree(root):
  """alpha (JAX, study folders directly) and beta (PyTorch, timestamped experiment folder).

  alpha's ogbg study: trial_1 reaches at eval 1 after 1000 s, trial_2 at eval 3 after 600 s.
  """
  alpha, beta = root / 'alpha', root / 'beta' / 'exp-2025-01-02-03-04-05'
  write_trial(alpha, 0, 'ogbg', 1, [100, 1000], [0.1, 0.3], metric='mean_average_precision')
  write_trial(alpha, 0, 'ogbg', 2, [100, 200, 300, 600], [0.1, 0.1, 0.1, 0.3],
              metric='mean_average_precision')
  write_trial(alpha, 0, 'wmt', 1, [1000, 2000], [10, 31], metric='bleu')
  write_trial(beta, 0, 'ogbg', 1, [900], [0.29], metric='mean_average_precision',
              framework='pytorch')
  write_trial(beta, 0, 'wmt', 1, [3000, 5000], [20, 30.9], metric='bleu', framework='pytorch')


def _scores(out):
  return pd.read_csv(out / 'scores.csv', index_col='submission')['score']


def _check_artifacts(out):
  for name in ['time_to_targets.csv', 'time_to_targets_scored.csv', 'performance_ratios.csv',
               'performance_profile.csv', 'scores.csv', 'studies.csv', 'alpha_summary.csv',
               'beta_summary.csv', 'speedups.csv', 'performance_profile.png',
               'performance_profile.pdf', 'time_to_target.png', 'leaderboard.md',
               'leaderboard.html', 'issues.txt']:
    assert (out / name).stat().st_size > 0, name
  page = (out / 'leaderboard.html').read_text()
  assert page.count('src="data:image/png;base64,') == 2
  assert 'http://' not in page and 'https://' not in page
  assert 'alpha</b>: ' in page and 'fastmri: no runs' in page
  markdown = (out / 'leaderboard.md').read_text().splitlines()
  assert markdown[0] == '| submission | score | rank | solved | num_base_workloads |'
  assert markdown[2].startswith('| alpha | 0.25 | 1 | 2 | 8 |')
  summary = pd.read_csv(out / 'alpha_summary.csv')
  ogbg = summary[summary['workload'] == 'ogbg'].set_index('trial')
  assert ogbg['validation_time_to_target'].to_dict() == {'trial_1': 1000, 'trial_2': 600}
  assert ogbg['validation_eval_index'].to_dict() == {'trial_1': 1, 'trial_2': 3}
  assert ogbg['test_best'].to_dict() == {'trial_1': 0.3, 'trial_2': 0.3}


def test_cli_scores_algoperf_layout_documented_vs_official(tmp_path):
  _algoperf_tree(tmp_path / 'logs')
  common = ['--submission_directory', str(tmp_path / 'logs'), '--workload_targets',
            'algoperf_v06']
  documented = _run_cli(*common, '--output_dir', str(tmp_path / 'doc'),
                        '--speedup_baseline', 'alpha')
  assert documented.returncode == 0, documented.stderr
  # 8 base workloads; alpha: ogbg 600 s (ratio 1), wmt ratio 1; beta: 900/600 = 1.5, 2.5.
  scores = _scores(tmp_path / 'doc')
  assert scores['alpha'] == pytest.approx(6 / 24, abs=1e-12)
  assert scores['beta'] == pytest.approx((2.5 + 1.5) / 24, abs=1e-12)
  times = pd.read_csv(tmp_path / 'doc' / 'time_to_targets.csv', index_col='submission')
  assert times.loc['alpha', 'ogbg'] == 600 and times.loc['beta', 'wmt'] == 5000
  assert np.isnan(times.loc['alpha', 'fastmri'])  # no runs: blank, scored as a miss
  speed = pd.read_csv(tmp_path / 'doc' / 'speedups.csv', index_col='submission')
  assert speed.loc['beta', 'time_ratio'] == pytest.approx(3.75 ** (1 / 8))
  assert speed.loc['beta', 'speedup'] == pytest.approx(3.75 ** (-1 / 8))
  assert speed.loc['alpha', 'time_ratio'] == 1.0
  assert "no runs of workload 'fastmri'" in documented.stderr
  assert 'Leaderboard' in documented.stdout and 'alpha' in documented.stdout
  _check_artifacts(tmp_path / 'doc')

  official = _run_cli(*common, '--output_dir', str(tmp_path / 'off'), '--official_algoperf')
  assert official.returncode == 0, official.stderr
  # Official: alpha's ogbg study takes trial_1 (earliest eval, 1000 s); beta's 900 s is best.
  # alpha's ratio 10/9 lies in (tau_3, tau_4]: area 3 - 4h + h/2.
  scores = _scores(tmp_path / 'off')
  assert scores['alpha'] == pytest.approx((3 - 4 * H + H / 2 + 3) / 24, abs=1e-12)
  assert scores['beta'] == pytest.approx((3 + 1.5) / 24, abs=1e-12)


def test_cli_strict_fails_with_named_problem(tmp_path):
  _algoperf_tree(tmp_path / 'logs')
  done = _run_cli('--submission_directory', str(tmp_path / 'logs'), '--output_dir',
                  str(tmp_path / 'out'), '--workload_targets', 'algoperf_v06', '--strict')
  assert done.returncode == 1
  assert 'error:' in done.stderr and '--strict' in done.stderr


def test_cli_bad_targets_file_is_one_clear_error(tmp_path):
  bad = tmp_path / 'targets.json'
  bad.write_text(json.dumps({'schema': 'nope'}))
  done = _run_cli('--submission_directory', str(tmp_path), '--workload_targets', str(bad))
  assert done.returncode == 1 and f'{bad}: "schema" must be' in done.stderr


def _runner_tree(root):
  """Two submissions x two trials of the toy workload, written by algoperf.runner."""
  workload = toy_workload.ToyRegressionWorkload(validation_target=0.05, test_target=0.05,
                                                budget_sec=60.0, eval_period_sec=0.02)
  sgd = submission.load_submission(str(HERE.parent / 'submissions' / 'sgd.py'))
  recorded = {}
  for name, seeds in {'sub_a': (0, 1), 'sub_b': (2, 3)}.items():
    for trial, seed in enumerate(seeds, start=1):
      log_dir = logs.trial_dir(str(root), name, 0, 'toy', trial)
      result = runner.run_trial(runner.TrialConfig(
          workload=workload, workload_name='toy', submission=sgd, hyperparameters=None,
          seed=seed, global_batch_size=32, eval_batch_size=64, budget_sec=60.0,
          log_dir=log_dir, max_global_steps=300, save_checkpoints=False, show_progress=False))
      recorded[(name, f'trial_{trial}')] = result.time_to_validation_target
  return workload, recorded


def test_tree_written_by_this_projects_runner_scores_end_to_end(tmp_path):
  workload, recorded = _runner_tree(tmp_path / 'logs')
  targets_path = tmp_path / 'lite.json'
  scoring.write_targets(scoring.targets_from_workloads(
      {'toy': workload}, ['toy'], version='lite-test',
      rulesets={'external': {'num_studies': 1, 'trials_per_study': 2, 'budget_factor': 1.0},
                'self': {'num_studies': 1, 'trials_per_study': 1, 'budget_factor': 1.5}}),
      str(targets_path))
  out = tmp_path / 'out'
  done = _run_cli('--submission_directory', str(tmp_path / 'logs'), '--output_dir', str(out),
                  '--workload_targets', str(targets_path), '--strict')
  assert done.returncode == 0, done.stderr
  assert all(t is not None for t in recorded.values()), recorded
  # Each trial's time to target equals the runner's own record; each study keeps the faster.
  for name in ('sub_a', 'sub_b'):
    summary = pd.read_csv(out / f'{name}_summary.csv').set_index('trial')
    for trial, time in summary['validation_time_to_target'].items():
      assert time == pytest.approx(recorded[(name, trial)], rel=1e-12)
  best = {n: min(recorded[(n, 'trial_1')], recorded[(n, 'trial_2')]) for n in ('sub_a', 'sub_b')}
  times = pd.read_csv(out / 'time_to_targets.csv', index_col='submission')['toy']
  assert times.to_dict() == pytest.approx(best, rel=1e-12)
  ratios = pd.read_csv(out / 'performance_ratios.csv', index_col='submission')['toy']
  fastest = min(best.values())
  assert ratios.to_dict() == pytest.approx({n: t / fastest for n, t in best.items()}, rel=1e-12)
  assert _scores(out).max() == pytest.approx(1.0, abs=1e-12)


def test_variants_not_scored_are_reported_beside_the_leaderboard(tmp_path):
  targets = make_targets({'b1': {}, 'b2': {}, 'v1': {'base_workload': 'b1'}})
  times = pd.DataFrame({'b1': [100.0, 200.0], 'b2': [100.0, 50.0], 'v1': [np.inf, np.nan]},
                       index=['alpha', 'beta'])
  result = scoring.score_times(times, targets, scoring.ScoringOptions())
  with_variant = result.scores.set_index('submission')['score']
  without = scoring.score_times(times[['b1', 'b2']], targets,
                                scoring.ScoringOptions()).scores.set_index('submission')['score']
  pd.testing.assert_series_equal(with_variant, without)  # the variant is not scored
  # Only alpha ran the variant (and missed it); beta, with no runs there, is left out.
  assert result.unscored_times.to_dict() == {'v1': {'alpha': np.inf}}
  text = scoring.report.terminal_table(result)
  assert scoring.report.UNSCORED_TITLE in text and 'v1' in text.split('not scored')[1]
  scoring.write_report(result, str(tmp_path))
  page = (tmp_path / 'leaderboard.html').read_text()
  section = page.split(f'<h2>{scoring.report.UNSCORED_TITLE}</h2>')[1].split('<h2>')[0]
  assert '<th>v1</th>' in section and 'inf' in section and 'beta' not in section
  plain = scoring.score_times(times[['b1', 'b2']], targets, scoring.ScoringOptions())
  assert plain.unscored_times.empty
  assert scoring.report.UNSCORED_TITLE not in scoring.report.html_page(plain)


@pytest.mark.parametrize('budget_sec, counted', [(0.2, False), (60.0, True)])
def test_runner_summary_and_scorer_agree_on_an_eval_past_the_budget(tmp_path, budget_sec,
                                                                     counted):
  # The first step sleeps 0.5 s, so the first eval (whose loss meets this easy target) is
  # taken at ~0.5 s: past a 0.2 s budget it reaches nothing, anywhere; within 60 s it counts.
  workload = toy_workload.ToyRegressionWorkload(validation_target=1e9, test_target=1e9,
                                                budget_sec=budget_sec, eval_period_sec=1e9)
  slow = submission.load_submission(str(HERE.parent / 'submissions' / 'slow_first_step.py'))
  log_dir = logs.trial_dir(str(tmp_path / 'logs'), 'slow', 0, 'toy', 1)
  try:
    result = runner.run_trial(runner.TrialConfig(
        workload=workload, workload_name='toy', submission=slow, hyperparameters=None,
        seed=0, global_batch_size=32, eval_batch_size=64, budget_sec=budget_sec,
        log_dir=log_dir, max_global_steps=3, save_checkpoints=False, show_progress=False))
  finally:
    slow.unload()
  first_score = result.eval_results[0][1]['score']
  assert (first_score <= budget_sec) is counted
  summary = json.loads((pathlib.Path(log_dir) / logs.TRIAL_SUMMARY).read_text())
  assert result.validation_target_reached is counted
  assert summary['validation_target_reached'] is counted
  assert (summary['time_to_validation_target'] is not None) is counted
  if not counted:
    assert result.status == runner.BUDGET_EXHAUSTED and result.eval_results  # still logged
  targets = scoring.targets_from_dict(scoring.targets_from_workloads(
      {'toy': workload}, ['toy'], version='budget-test'), '<budget test>')
  scored = scoring.score_directory(str(tmp_path / 'logs'), targets,
                                   scoring.ScoringOptions(strict=False))
  trial = scored.trials.iloc[0]
  assert bool(trial['validation_reached']) is counted
  if counted:
    assert trial['validation_time_to_target'] == pytest.approx(
        summary['time_to_validation_target'], rel=1e-12)
