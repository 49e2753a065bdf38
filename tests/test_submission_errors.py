"""Malformed submissions: each breaks one rule of the submission contract and gets one
`SubmissionError` naming the file, the function and the rule, at load time where the rule
can be checked from the source, else at the step where it breaks, without losing what the
trial already wrote. A submission whose parameters turn NaN is not malformed: its trial
ends with status `diverged`.

The submissions live in tests/submissions/malformed/, one rule broken per file; each
borrows the rest of a valid plain-SGD submission from its sibling `malformed_base.py`.
"""

import csv
import json
import logging
import math
import os
import pathlib
import sys

import pytest

from algoperf import logs, runner, submission
from algoperf.submission import SubmissionError

TESTS_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

MALFORMED = TESTS_DIR / 'submissions' / 'malformed'


def _path(name: str) -> str:
  return str(MALFORMED / f'{name}.py')


def _load(name: str) -> submission.Submission:
  return submission.load_submission(_path(name))


def _assert_error(error: BaseException, path: str, function: str, *rule: str) -> None:
  """`error` is exactly a SubmissionError saying '<abs path>: <function>: <rule...>'."""
  assert type(error) is SubmissionError
  message = str(error)
  assert message.startswith(f'{os.path.abspath(path)}: {function}: '), message
  for fragment in rule:
    assert fragment in message, f'{fragment!r} not in {message!r}'


def _load_error(path: str) -> SubmissionError:
  with pytest.raises(SubmissionError) as info:
    submission.load_submission(path)
  return info.value


# One workload for every trial, so jitted steps keyed on it (a static argument) compile
# once per module. An eval period no run reaches: evals come after step 1 and at the end.
_WORKLOAD = toy_workload.ToyRegressionWorkload(eval_period_sec=1e9, budget_sec=60.0)


def _config(sub, log_dir=None, max_global_steps=6, hyperparameters=None):
  _WORKLOAD.attach_metrics_logger(None)  # Drop a previous trial's logger.
  return runner.TrialConfig(
      workload=_WORKLOAD, workload_name='toy', submission=sub,
      hyperparameters=hyperparameters, seed=0, global_batch_size=32, eval_batch_size=64,
      budget_sec=60.0, log_dir=None if log_dir is None else str(log_dir),
      max_global_steps=max_global_steps, save_checkpoints=False, show_progress=False)


def _trial_error(name: str, **kwargs) -> SubmissionError:
  with pytest.raises(SubmissionError) as info:
    runner.run_trial(_config(_load(name), **kwargs))
  return info.value


def _submission_records(caplog) -> list[logging.LogRecord]:
  return [r for r in caplog.records if r.name == 'algoperf.submission']


def _csv_rows(path) -> list[dict[str, str]]:
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


# --- Rejected at load time: presence and signatures -------------------------------------

LOAD_TIME = {
    'missing_get_batch_size': ('get_batch_size', 'required function is missing'),
    'missing_init_optimizer_state': ('init_optimizer_state', 'required function is missing'),
    'missing_update_params': ('update_params', 'required function is missing'),
    'missing_data_selection': ('data_selection', 'required function is missing'),
    'update_params_not_callable': ('update_params', 'must be a function, got dict'),
    'init_optimizer_state_four_params': (
        'init_optimizer_state', 'must accept 5 positional arguments (takes 4'),
    'data_selection_seven_params': (
        'data_selection', 'must accept 8 positional arguments (takes 7'),
    'update_params_rng_renamed_key': (
        'update_params', 'passes arguments by name', 'missing parameter(s) rng'),
    'update_params_extra_required': (
        'update_params', 'unknown required parameter(s) momentum'),
}


@pytest.mark.parametrize('name', sorted(LOAD_TIME))
def test_load_rejects_broken_signature(name):
  function, *rule = LOAD_TIME[name]
  _assert_error(_load_error(_path(name)), _path(name), function, *rule)


def test_valid_base_loads():
  # The malformed files differ from this one by exactly the rule each breaks.
  sub = _load('malformed_base')
  assert sub.prepare_for_eval is None and sub.get_eval_batch_size is None
  assert sub.update_params_accepts_train_state


def test_syntax_error_names_file_and_line(tmp_path):
  path = tmp_path / 'bad_syntax.py'
  path.write_text('def get_batch_size(workload_name):\n  return 32\n\n'
                  'def init_optimizer_state(workload, model_params\n')
  error = _load_error(str(path))
  assert type(error) is SubmissionError
  message = str(error)
  assert message.startswith(f'{path}: importing the submission raised SyntaxError'), message
  assert 'line 4' in message
  assert isinstance(error.__cause__, SyntaxError)


def test_import_error_inside_submission_names_file_and_module():
  error = _load_error(_path('import_error'))
  assert type(error) is SubmissionError
  message = str(error)
  assert message.startswith(
      f'{_path("import_error")}: importing the submission raised ModuleNotFoundError'), message
  assert 'algoperf_no_such_module_for_tests' in message
  assert isinstance(error.__cause__, ModuleNotFoundError)


def test_missing_file_and_non_python_file(tmp_path):
  missing = tmp_path / 'nope.py'
  assert str(_load_error(str(missing))) == f'{missing}: no such submission file.'
  text = tmp_path / 'submission.txt'
  text.write_text('def get_batch_size(name):\n  return 32\n')
  assert 'must be a Python (.py) file' in str(_load_error(str(text)))


# --- Batch size -------------------------------------------------------------------------


@pytest.mark.parametrize('name, shown', [('get_batch_size_float', '32.0'),
                                         ('get_batch_size_zero', '0')])
def test_batch_size_must_be_positive_int(name, shown):
  sub = _load(name)
  with pytest.raises(SubmissionError) as info:
    submission.resolve_batch_size(sub, 'toy', 'toy', default_batch_size=32, num_devices=1)
  _assert_error(info.value, _path(name), 'get_batch_size',
                f'must return a positive int, got {shown}.')


def test_batch_size_must_divide_over_devices():
  sub = _load('get_batch_size_12')
  assert submission.resolve_batch_size(sub, 'toy', 'toy', 32, num_devices=4) == 12
  with pytest.raises(SubmissionError) as info:
    submission.resolve_batch_size(sub, 'toy', 'toy', 32, num_devices=8)
  _assert_error(info.value, _path('get_batch_size_12'), 'get_batch_size',
                'batch size 12 is not divisible by the 8 devices')


def test_unknown_workload_falls_back_to_base_then_default(caplog):
  sub = _load('get_batch_size_only_algoperf_names')
  with caplog.at_level(logging.WARNING, logger='algoperf.submission'):
    # The base workload's name is known: its batch size, no warning.
    assert submission.resolve_batch_size(sub, 'mnist_variant', 'mnist', 32, 1) == 16
    assert not _submission_records(caplog)
    # Neither name is known: the workload's default, with a warning naming file and names.
    assert submission.resolve_batch_size(sub, 'toy_variant', 'toy', 32, 1) == 32
  [record] = _submission_records(caplog)
  assert record.levelno == logging.WARNING
  assert record.name == 'algoperf.submission'
  message = record.getMessage()
  assert _path('get_batch_size_only_algoperf_names') in message
  assert 'get_batch_size' in message and "'toy_variant'" in message
  assert 'workload default 32' in message


def test_unknown_workload_without_default_is_an_error(caplog):
  sub = _load('get_batch_size_only_algoperf_names')
  with pytest.raises(SubmissionError) as info:
    submission.resolve_batch_size(sub, 'toy', 'toy', default_batch_size=None, num_devices=1)
  _assert_error(info.value, _path('get_batch_size_only_algoperf_names'), 'get_batch_size',
                "raised ValueError for workload 'toy'", 'defines no default batch size')


def test_default_batch_size_is_checked_against_devices():
  sub = _load('get_batch_size_only_algoperf_names')
  with pytest.raises(SubmissionError, match='batch size 12 is not divisible by the 8'):
    submission.resolve_batch_size(sub, 'toy', 'toy', default_batch_size=12, num_devices=8)


def test_get_batch_size_key_error_is_reported_or_falls_back(caplog):
  sub = _load('get_batch_size_key_error')
  with caplog.at_level(logging.WARNING, logger='algoperf.submission'):
    try:
      batch_size = submission.resolve_batch_size(sub, 'toy', 'toy', 32, 1)
    except SubmissionError as e:
      _assert_error(e, _path('get_batch_size_key_error'), 'get_batch_size', 'KeyError')
      return
  assert batch_size == 32
  assert any('workload default 32' in r.getMessage() for r in _submission_records(caplog))


# --- Caught in the run, at the step where the rule breaks --------------------------------


def test_update_params_returning_two_tuple():
  error = _trial_error('update_params_two_tuple')
  _assert_error(error, _path('update_params_two_tuple'), 'update_params',
                'must return (optimizer_state, params, model_state)',
                'at step 0', 'tuple of length 2')


def test_update_params_changing_tree_structure():
  error = _trial_error('update_params_changes_structure')
  _assert_error(error, _path('update_params_changes_structure'), 'update_params',
                "tree structure differs from the workload's at step 0", "'extra'")


def test_update_params_changing_shapes():
  error = _trial_error('update_params_changes_shapes')
  _assert_error(error, _path('update_params_changes_shapes'), 'update_params',
                'changed shapes at step 0')


def test_update_params_raising_keeps_written_rows(tmp_path):
  log_dir = tmp_path / 'trial_1'
  error = _trial_error('update_params_raises_at_step_3', log_dir=log_dir, max_global_steps=20)
  _assert_error(error, _path('update_params_raises_at_step_3'), 'update_params',
                'raised RuntimeError at step 3: optimizer exploded')
  assert isinstance(error.__cause__, RuntimeError)
  # The eval after step 1 was written before the crash and is still there, whole.
  for name in (logs.EVAL_MEASUREMENTS, logs.MEASUREMENTS):
    rows = _csv_rows(log_dir / name)
    assert [r['global_step'] for r in rows] == ['1'], name
    assert math.isfinite(float(rows[0]['validation/loss']))
    assert rows[0]['preemption_count'] == '0'
  meta = json.loads((log_dir / 'meta_data_0.json').read_text())
  assert meta['submission_path'] == _path('update_params_raises_at_step_3')


def test_data_selection_raising():
  error = _trial_error('data_selection_raises')
  _assert_error(error, _path('data_selection_raises'), 'data_selection',
                "raised KeyError at step 0: 'no_such_key'")
  assert isinstance(error.__cause__, KeyError)


def test_init_optimizer_state_raising():
  error = _trial_error('init_optimizer_state_raises')
  _assert_error(error, _path('init_optimizer_state_raises'), 'init_optimizer_state',
                'raised AttributeError', 'learning_rate')
  assert isinstance(error.__cause__, AttributeError)


def test_prepare_for_eval_returning_wrong_structure():
  error = _trial_error('prepare_for_eval_wrong_structure')
  # The first eval is after step 1.
  _assert_error(error, _path('prepare_for_eval_wrong_structure'), 'prepare_for_eval',
                "tree structure differs from the workload's at step 1")


# --- Diverging is a result, not a crash ---------------------------------------------------


def test_nan_params_end_the_trial_as_diverged(tmp_path):
  log_dir = tmp_path / 'trial_1'
  result = runner.run_trial(_config(_load('diverges_nan'), log_dir=log_dir,
                                    max_global_steps=50))
  assert result.status == runner.DIVERGED == 'diverged'
  # Caught at the first eval (after step 1), not left to run to max_global_steps.
  assert result.global_step == 1
  assert not result.validation_target_reached and result.time_to_validation_target is None
  [(step, row)] = result.eval_results
  assert step == 1 and math.isnan(row['validation/loss'])
  summary = json.loads((log_dir / logs.TRIAL_SUMMARY).read_text())
  assert summary['status'] == 'diverged'
  assert summary['global_step'] == 1 and summary['num_evals'] == 1
  [written] = _csv_rows(log_dir / logs.EVAL_MEASUREMENTS)
  assert written['global_step'] == '1' and written['validation/loss'] == 'nan'


# --- Known gaps (library bugs): each test states the behaviour that should hold ----------


def test_positional_only_update_params_rejected_at_load():
  path = _path('update_params_positional_only')
  _assert_error(_load_error(path), path, 'update_params', 'rng')


def test_prepare_for_eval_requiring_train_state_rejected_at_load():
  path = _path('prepare_for_eval_requires_train_state')
  _assert_error(_load_error(path), path, 'prepare_for_eval', 'train_state')


def test_required_keyword_only_data_selection_rejected_at_load():
  path = _path('data_selection_keyword_only')
  _assert_error(_load_error(path), path, 'data_selection', 'batch_size')


def test_update_params_changing_shapes_later_is_caught_by_the_next_eval():
  error = _trial_error('update_params_changes_shapes_at_step_3', max_global_steps=6)
  _assert_error(error, _path('update_params_changes_shapes_at_step_3'), 'update_params',
                'changed shapes')
