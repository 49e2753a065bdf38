"""Flags that would do nothing (or something else) are refused with one clear error, and
--resume_last_run continues only the run that is recorded (docs/reliability.md)."""

import functools
import json
import os
import pathlib
import sys

import pytest

from algoperf import experiment, tuning

TESTS_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

SGD = str(TESTS_DIR / 'submissions' / 'sgd.py')
WORKLOAD = functools.partial(toy_workload.ToyRegressionWorkload, validation_target=-1.0,
                             test_target=-1.0, eval_period_sec=1e9)


def _space(tmp_path, points=({'learning_rate': 0.1},), name='space.json'):
  path = tmp_path / name
  path.write_text(json.dumps(list(points)))
  return str(path)


def _config(tmp_path, **overrides):
  values = dict(submission_path=SGD, workload_name='toy', experiment_dir=str(tmp_path / 'exp'),
                experiment_name='run', tuning_search_space=_space(tmp_path), rng_seed=0,
                max_global_steps=20, save_checkpoints=True, show_progress=False,
                isolate_trials=False)
  values.update(overrides)
  return experiment.ExperimentConfig(**values)


@pytest.mark.parametrize('overrides, message', [
    ({'num_studies': 0}, '--num_studies must be an int >= 1, got 0'),
    ({'num_tuning_trials': 0}, '--num_tuning_trials must be an int >= 1, got 0'),
    ({'max_global_steps': 0}, '--max_global_steps must be an int >= 1, got 0'),
    ({'max_global_steps': -5}, '--max_global_steps must be an int >= 1, got -5'),
    ({'experiment_name': '../escaped'}, 'must name a folder inside --experiment_dir'),
    ({'experiment_name': '/tmp/elsewhere'}, 'must name a folder inside --experiment_dir'),
    ({'experiment_name': ''}, 'must name a folder inside --experiment_dir'),
    ({'resume_last_run': True, 'overwrite': True}, '--overwrite and --resume_last_run'),
    ({'budget_factor': 0.0}, 'budget_factor must be a number > 0, got 0.0'),
])
def test_flags_that_would_do_nothing_are_refused(tmp_path, overrides, message):
  with pytest.raises(experiment.ExperimentError, match=_escape(message)):
    _config(tmp_path, **overrides)


def _escape(text):
  import re
  return re.escape(text)


@pytest.mark.parametrize('points, message', [
    ([{'learning_rate': -0.1}], 'learning_rate must be > 0, got -0.1'),
    ([{'learning_rate': 0.1, 'weight_decay': -1e-4}], 'weight_decay must be >= 0'),
    ([{'learning_rate': '0.001'}], "'0.001' is a number written as a string"),
])
def test_bad_hyperparameters_in_a_list_space_are_refused(tmp_path, points, message):
  with pytest.raises(tuning.SearchSpaceError, match=_escape(message)):
    tuning.load_search_space(_space(tmp_path, points))


@pytest.mark.parametrize('space, message', [
    ({'learning_rate': {'min': -1e-3, 'max': 1e-2, 'scaling': 'linear'}},
     'learning_rate must be > 0, got -0.001'),
    ({'learning_rate': {'feasible_points': ['1e-3']}}, "'1e-3' is a number written as a string"),
])
def test_bad_hyperparameters_in_a_range_space_are_refused(tmp_path, space, message):
  path = tmp_path / 'space.json'
  path.write_text(json.dumps(space))
  with pytest.raises(tuning.SearchSpaceError, match=_escape(message)):
    tuning.load_search_space(str(path))


def test_strings_that_are_not_numbers_stay_allowed(tmp_path):
  space = tuning.load_search_space(_space(tmp_path, [{'learning_rate': 0.1,
                                                      'schedule': 'cosine'}]))
  assert space.names == ('learning_rate', 'schedule')


def _run(config):
  return experiment.run_experiment(config, WORKLOAD, 'toy')


def _interrupted_trial(tmp_path):
  """A finished trial made to look interrupted (its summary removed): resumable."""
  [outcome] = _run(_config(tmp_path))
  os.remove(os.path.join(outcome.log_dir, 'trial_summary.json'))
  return outcome.log_dir


def test_resume_refuses_another_submission_file(tmp_path):
  _interrupted_trial(tmp_path)
  other = tmp_path / 'sgd_changed.py'
  other.write_text(pathlib.Path(SGD).read_text() + '\n# changed\n')
  with pytest.raises(experiment.ExperimentError, match='submission file content'):
    _run(_config(tmp_path, submission_path=str(other), resume_last_run=True))


def test_resume_refuses_another_search_space_point(tmp_path):
  _interrupted_trial(tmp_path)
  other = _space(tmp_path, [{'learning_rate': 0.5}], name='other.json')
  with pytest.raises(experiment.ExperimentError, match='search-space point'):
    _run(_config(tmp_path, tuning_search_space=other, resume_last_run=True))


def test_resume_refuses_max_global_steps_below_the_checkpoint(tmp_path):
  _interrupted_trial(tmp_path)
  with pytest.raises(experiment.ExperimentError,
                     match="--max_global_steps=10 is below the checkpoint's step 20"):
    _run(_config(tmp_path, max_global_steps=10, resume_last_run=True))


def test_resume_refuses_a_trial_recorded_for_another_workload(tmp_path):
  log_dir = _interrupted_trial(tmp_path)
  meta_path = os.path.join(log_dir, 'meta_data_0.json')
  with open(meta_path) as f:
    meta = json.load(f)
  meta['workload'] = 'mnist1d'
  with open(meta_path, 'w') as f:
    json.dump(meta, f)
  with pytest.raises(experiment.ExperimentError, match="workload 'mnist1d' vs 'toy'"):
    _run(_config(tmp_path, resume_last_run=True))


def test_resume_with_the_same_run_continues(tmp_path):
  log_dir = _interrupted_trial(tmp_path)
  [outcome] = _run(_config(tmp_path, resume_last_run=True))
  assert outcome.error is None and outcome.summary['global_step'] == 20
  assert os.path.exists(os.path.join(log_dir, 'meta_data_1.json'))


def test_a_hyperparameter_the_search_space_lacks_is_reported_before_training(tmp_path, caplog):
  path = tmp_path / 'reads_warmup.py'
  path.write_text(pathlib.Path(SGD).read_text().replace(
      'def update_params(', 'def _unused(hyperparameters):\n'
      '  return hyperparameters.warmup_factor\n\n\ndef update_params(', 1))
  space = _space(tmp_path)
  with caplog.at_level('WARNING', logger='algoperf'):
    experiment.report_missing_hyperparameters(str(path), 'external', space)
  assert any('warmup_factor' in r.getMessage() and space in r.getMessage()
             for r in caplog.records)
  with pytest.raises(experiment.submission.SubmissionError, match='warmup_factor'):
    experiment.report_missing_hyperparameters(str(path), 'external', space, strict=True)
  experiment.report_missing_hyperparameters(SGD, 'external', space, strict=True)  # reads none


def test_stop_at_targets_false_trains_on_after_the_targets(tmp_path):
  """Equal-budget comparisons (benchmarks/averaging_comparison.py) train past the targets."""
  reachable = functools.partial(toy_workload.ToyRegressionWorkload, validation_target=1e9,
                                test_target=1e9, eval_period_sec=1e9)
  steps = {}
  for stop in (True, False):
    [outcome] = experiment.run_experiment(
        _config(tmp_path, experiment_name=f'stop_{stop}', stop_at_targets=stop), reachable,
        'toy')
    steps[stop] = (outcome.summary['status'], outcome.summary['global_step'])
  assert steps[True] == ('targets_reached', 1)
  assert steps[False] == ('max_global_steps', 20)
