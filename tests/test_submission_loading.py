"""How submissions are imported: plain files and packages (relative imports, subpackages,
sibling modules) load as under AlgoPerf, nothing of one submission leaks into the next
loaded in the same process, and an exception in submission code is reported at the
submission's own file and line (also written to the trial folder).
"""

import os
import pathlib
import sys

import jax
import pytest

from algoperf import runner, submission, trial_job
from algoperf.submission import SubmissionError

TESTS_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

SUBMISSIONS = TESTS_DIR / 'submissions'
FIRST_PACKAGE = SUBMISSIONS / 'packaged' / 'first' / 'sgd_pkg' / 'submission.py'
SECOND_PACKAGE = SUBMISSIONS / 'packaged' / 'second' / 'sgd_pkg' / 'submission.py'
MALFORMED = SUBMISSIONS / 'malformed'


def _workload():
  return toy_workload.ToyRegressionWorkload(eval_period_sec=1e9, budget_sec=60.0)


def _config(sub, log_dir=None, steps=5):
  return runner.TrialConfig(
      workload=_workload(), workload_name='toy', submission=sub, hyperparameters=None,
      seed=0, global_batch_size=32, eval_batch_size=64, budget_sec=60.0,
      log_dir=None if log_dir is None else str(log_dir), max_global_steps=steps,
      save_checkpoints=False, show_progress=False)


def _modules_from(folder: pathlib.Path) -> list[str]:
  prefix = str(folder) + os.sep
  return [name for name, module in list(sys.modules.items())
          if (getattr(module, '__file__', None) or '').startswith(prefix)]


# --- Packages -----------------------------------------------------------------------------


def test_package_submission_with_relative_imports_trains():
  sub = submission.load_submission(str(FIRST_PACKAGE))
  try:
    assert sub.module.__file__ == str(FIRST_PACKAGE)
    assert sub.module.WHICH == 'first'  # `from . import schedule` found its sibling
    assert sub.root == str(FIRST_PACKAGE.parent)  # the topmost folder with __init__.py
    result = runner.run_trial(_config(sub))
    assert result.global_step == 5 and result.status == runner.MAX_STEPS
  finally:
    sub.unload()


def test_same_named_packages_do_not_leak_into_each_other():
  path_before = list(sys.path)
  first = submission.load_submission(str(FIRST_PACKAGE))
  assert first.module.WHICH == 'first'
  first.unload()
  assert not _modules_from(FIRST_PACKAGE.parent)
  assert sys.path == path_before
  # The second package imports `sgd_pkg` by its absolute name: it must get its own.
  second = submission.load_submission(str(SECOND_PACKAGE))
  try:
    assert second.module.WHICH == 'second'
    assert second.module.schedule.LEARNING_RATE == 0.05
    assert second.module.schedule.__file__ == str(SECOND_PACKAGE.parent / 'schedule.py')
  finally:
    second.unload()
  assert 'sgd_pkg' not in sys.modules and not _modules_from(SECOND_PACKAGE.parent)
  assert sys.path == path_before


def test_plain_files_each_import_their_own_sibling_module():
  seen = []
  for folder in ('plain_a', 'plain_b', 'plain_a'):
    sub = submission.load_submission(str(SUBMISSIONS / folder / 'submission.py'))
    seen.append(sub.module.WHICH)
    sub.unload()
    assert 'helper' not in sys.modules
  assert seen == ['plain_a', 'plain_b', 'plain_a']


def test_libraries_first_imported_by_a_submission_stay_loaded(tmp_path):
  # Unloading a library's modules would build a second copy of its registries on the
  # next import; only the submission's own files are forgotten.
  sys.modules.pop('colorsys', None)
  path = tmp_path / 'uses_stdlib.py'
  path.write_text((MALFORMED / 'malformed_base.py').read_text() + '\nimport colorsys\n')
  sub = submission.load_submission(str(path))
  sub.unload()
  assert 'colorsys' in sys.modules


def _trial_error(path) -> str:
  """The SubmissionError message of a trial of `path` on the toy workload (this process)."""
  sub = submission.load_submission(str(path))
  try:
    with pytest.raises(SubmissionError) as info:
      runner.run_trial(_config(sub))
  finally:
    sub.unload()
  return str(info.value)


def _run_job(path, log_dir) -> trial_job.JobResult:
  """Two steps of `path` on the toy workload as a trial job, in this process."""
  return trial_job.run_job(trial_job.TrialJob(
      submission_path=str(path), workload_name='toy', base_workload_name='toy',
      workload_factory=_workload, log_dir=str(log_dir), study_index=0, trial_index=1,
      seed=0, hyperparameters=None, budget_sec=60.0, tuning_ruleset='self',
      tuning_search_space=None, max_global_steps=2, save_checkpoints=False,
      show_progress=False))


def test_run_job_unloads_the_submission(tmp_path):
  before = set(sys.modules)
  result = _run_job(FIRST_PACKAGE, tmp_path)
  assert result.status == runner.MAX_STEPS, result
  assert not [name for name in set(sys.modules) - before
              if name.startswith('_algoperf_submission_')]


# --- Whose fault: the submission's frames ------------------------------------------------


def test_own_bug_is_reported_at_the_submissions_line(tmp_path):
  path = MALFORMED / 'update_params_indexes_scalar_loss.py'
  message = _trial_error(path)
  assert message.startswith(f'{path}: update_params: raised IndexError at step 0')
  assert "in the submission's own code" in message
  line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
              if 'loss[0]' in text)
  assert f'update_params_indexes_scalar_loss.py, line {line}, in update_params' in message
  assert 'first = loss[0]' in message


def test_own_bug_traceback_is_written_to_the_trial_folder(tmp_path):
  path = MALFORMED / 'update_params_indexes_scalar_loss.py'
  result = _run_job(path, tmp_path)
  assert result.status == trial_job.SUBMISSION_ERROR
  assert result.summary['traceback_file'] == trial_job.ERROR_TRACEBACK
  text = (tmp_path / trial_job.ERROR_TRACEBACK).read_text()
  assert text.startswith(result.error)
  assert 'Traceback (most recent call last)' in text and 'IndexError' in text
  assert 'first = loss[0]' in text


def test_missing_package_names_the_install_command():
  with pytest.raises(SubmissionError) as info:
    submission.load_submission(str(MALFORMED / 'import_error.py'))
  message = str(info.value)
  assert 'ModuleNotFoundError' in message
  assert ("hint: the submission needs the package 'algoperf_no_such_module_for_tests', "
          'which is not installed: pip install algoperf_no_such_module_for_tests') in message
  assert 'import_error.py, line 2, in <module>' in message


def _init_error(path: pathlib.Path, body: str) -> str:
  """The error of a trial whose submission's init_optimizer_state is `body` (one line)."""
  path.write_text((MALFORMED / 'malformed_base.py').read_text().replace(
      'def init_optimizer_state(', 'def _unused_init(', 1)
      + '\n\ndef init_optimizer_state(workload, model_params, model_state, hyperparameters, '
      f'rng):\n  {body}\n')
  return _trial_error(path)


@pytest.mark.skipif(tuple(map(int, jax.__version__.split('.')[:2])) < (0, 6),
                    reason='this JAX still has jax.tree_map')
def test_removed_jax_api_points_to_the_pinned_environment(tmp_path, monkeypatch):
  # Legacy pmap mode puts jax.tree_map back in its process; a plain submission gets none.
  monkeypatch.delattr(jax, 'tree_map', raising=False)
  message = _init_error(tmp_path / 'old_jax.py',
                        'return jax.tree_map(lambda x: x * 0, model_params)')
  assert 'init_optimizer_state: raised AttributeError' in message
  assert 'no longer has' in message and 'constraints/algoperf-v0.5.txt' in message
  assert 'old_jax.py, line' in message


@pytest.mark.parametrize('line, expected', [
    ('from algoperf.workloads.mnist.mnist_jax.workload import MnistWorkload',
     "algoperf.workloads is part of AlgoPerf's runner, not of its submission API"),
    ('from algorithms.archived_paper_baselines.adafactor.jax import sharded_adafactor',
     "'algorithms' is a folder of AlgoPerf's repository"),
])
def test_algoperf_repository_imports_get_a_hint_not_pip_install(tmp_path, line, expected):
  path = tmp_path / 'imports_algoperf_internals.py'
  path.write_text((MALFORMED / 'malformed_base.py').read_text() + f'\n{line}\n')
  with pytest.raises(SubmissionError) as info:
    submission.load_submission(str(path))
  assert expected in str(info.value) and 'pip install' not in str(info.value)


def test_error_raised_inside_a_library_names_that_frame_too(tmp_path):
  message = _init_error(tmp_path / 'bad_reshape.py',
                        'return jax.numpy.reshape(jax.numpy.zeros(6), (4, 4))')
  assert 'bad_reshape.py, line' in message
  assert '... raised inside jax/' in message


def test_own_bug_in_code_mixing_pmap_and_sharding_gets_no_legacy_mode_hint(tmp_path):
  # Code with both pmap-era and v0.6 sharding calls (AlgoPerf's transitional submissions)
  # runs in the default convention; its own bug must not be blamed on the convention.
  path = tmp_path / 'mixed.py'
  message = _init_error(path, 'return jax.numpy.zeros(())[0]')
  assert "in the submission's own code" in message and '--legacy_pmap' not in message
  path.write_text(path.read_text() + '\nfrom algoperf import jax_sharding_utils\n'
                  'import flax.jax_utils\n_ = (jax_sharding_utils, flax.jax_utils.replicate)\n')
  message = _trial_error(path)
  assert 'IndexError' in message and '--legacy_pmap' not in message
