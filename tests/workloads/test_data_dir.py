"""A given --data_dir is the only place data is read from, and trials record where it was.

Issue 15, item 8: missing files under a given data_dir fail with the path and how to get
the data (never a silent read of the Debian copy); without a data_dir the documented
default is read; `data_location` names the copy used and reaches meta_data_<p>.json.
"""

import json
import os
import shutil

import numpy as np
import pytest

from algoperf import runner, submission
from algoperf.data.errors import DatasetUnavailableError
from workloads import registry
from workloads.char_lm import input_pipeline as char_lm_pipeline
from workloads.fashion_mnist import input_pipeline as fashion_pipeline
from workloads.mnist1d import input_pipeline as mnist1d_pipeline

SGD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   'submissions', 'sgd.py')
FASHION_INSTALLED = os.path.isdir(fashion_pipeline.SYSTEM_DIR)
CHAR_LM_INSTALLED = os.path.isdir(char_lm_pipeline.SYSTEM_DIR)
needs_fashion = pytest.mark.skipif(not FASHION_INSTALLED,
                                   reason='Debian package dataset-fashion-mnist not installed')
needs_char_lm = pytest.mark.skipif(not CHAR_LM_INSTALLED,
                                   reason='Debian package sword-text-web not installed')


def _no_reads(monkeypatch, module, reader):
  """Any read of a data file fails the test: an error must come before loading anything."""
  monkeypatch.setattr(module, reader, lambda *a, **k: pytest.fail(f'{reader} called'))


# --- a given data_dir without the data: one error, no fallback ---------------------------


@pytest.mark.parametrize('name', ['fashion_mnist', 'fashion_mnist_cnn'])
def test_fashion_empty_data_dir_fails_without_reading_the_debian_copy(name, tmp_path,
                                                                       monkeypatch):
  _no_reads(monkeypatch, fashion_pipeline, 'read_files')
  workload = registry.get_workload(name)
  with pytest.raises(DatasetUnavailableError) as error:
    workload._build_input_queue(None, 'train', str(tmp_path), 8)
  message = str(error.value)
  assert str(tmp_path / 'fashion_mnist') in message and f"'{tmp_path}'" in message
  assert 'apt-get install dataset-fashion-mnist' in message
  assert 'zalandoresearch/fashion-mnist' in message
  assert 'no other place is read' in message
  assert fashion_pipeline.SYSTEM_DIR not in fashion_pipeline.candidate_dirs(str(tmp_path))
  assert workload.data_location is None


def test_char_lm_empty_data_dir_fails_without_reading_the_debian_copy(tmp_path, monkeypatch):
  _no_reads(monkeypatch, char_lm_pipeline, 'read_module')
  workload = registry.get_workload('char_lm')
  with pytest.raises(DatasetUnavailableError) as error:
    workload._build_input_queue(None, 'train', str(tmp_path), 8)
  message = str(error.value)
  assert str(tmp_path / 'char_lm') in message and f"'{tmp_path}'" in message
  assert 'apt-get install sword-text-web' in message and 'no other place is read' in message
  assert char_lm_pipeline.SYSTEM_DIR not in char_lm_pipeline.candidate_dirs(str(tmp_path))
  assert workload.data_location is None


@needs_fashion
def test_the_debian_copy_is_installed_here_so_the_no_fallback_tests_mean_something():
  """Without it the tests above would pass even with a fallback (nothing to fall back to)."""
  assert fashion_pipeline.find_files(None)  # Found without a data_dir...
  with pytest.raises(DatasetUnavailableError):
    fashion_pipeline.find_files('/nonexistent-data-dir')  # ...but not with one.


# --- no data_dir: the documented default ---------------------------------------------------


@needs_fashion
def test_fashion_without_data_dir_reads_the_debian_copy():
  workload = registry.get_workload('fashion_mnist')
  workload.splits('')
  assert workload.data_location == fashion_pipeline.SYSTEM_DIR


@needs_char_lm
def test_char_lm_without_data_dir_reads_the_debian_copy():
  workload = registry.get_workload('char_lm')
  workload.splits(None)
  assert workload.data_location == char_lm_pipeline.SYSTEM_DIR


# --- a data_dir holding the files: read there --------------------------------------------


@needs_fashion
def test_fashion_data_dir_with_the_real_files_is_read_there(tmp_path):
  copy = tmp_path / 'fashion_mnist'
  shutil.copytree(fashion_pipeline.SYSTEM_DIR, copy)
  workload = registry.get_workload('fashion_mnist')
  splits = workload.splits(str(tmp_path))
  assert workload.data_location == str(copy)
  assert len(splits['train']['targets']) == workload.num_train_examples


def test_char_lm_data_dir_with_the_files_is_read_there(char_lm_data_dir):
  workload = registry.get_workload('char_lm')
  workload.splits(char_lm_data_dir)
  assert workload.data_location == os.path.join(char_lm_data_dir, 'char_lm')


def test_tfds_workload_names_the_prepared_folder(prepared, mnist_tfds_dir):
  workload, data_dir = prepared('mnist')
  workload.splits(data_dir)
  assert workload.data_location == os.path.join(mnist_tfds_dir, 'mnist', '3.0.1')


# --- generated data -------------------------------------------------------------------------


@pytest.fixture
def small_generator(monkeypatch, mnist1d_data_dir):
  """`generate` returns the session's small MNIST-1D (real generator, 6000 samples)."""
  with np.load(mnist1d_pipeline.cache_path(mnist1d_data_dir)) as cached:
    raw = dict(cached)
  monkeypatch.setattr(mnist1d_pipeline, 'generate', lambda *a, **k: raw)


def test_mnist1d_with_data_dir_names_its_cache(mnist1d_data_dir):
  workload = registry.get_workload('mnist1d')
  workload.splits(mnist1d_data_dir)
  assert workload.data_location == (
      f'generated, cached at {mnist1d_pipeline.cache_path(mnist1d_data_dir)}')


def test_mnist1d_without_data_dir_caches_in_the_user_cache(tmp_path, monkeypatch,
                                                           small_generator):
  monkeypatch.setenv(mnist1d_pipeline.CACHE_ENV, str(tmp_path / 'cache'))
  workload = registry.get_workload('mnist1d')
  workload.splits('')
  path = mnist1d_pipeline.cache_path(str(tmp_path / 'cache'))
  assert os.path.isfile(path)
  assert workload.data_location == f'generated, cached at {path}'


def test_mnist1d_with_caching_off_is_just_generated(tmp_path, monkeypatch, small_generator):
  monkeypatch.setenv(mnist1d_pipeline.CACHE_ENV, '')
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
  workload = registry.get_workload('mnist1d')
  workload.splits(None)
  assert workload.data_location == 'generated'
  assert not os.listdir(tmp_path)


def test_mnist1d_unwritable_cache_only_costs_the_regeneration(tmp_path, monkeypatch,
                                                              small_generator):
  blocker = tmp_path / 'file'
  blocker.write_text('not a folder')
  monkeypatch.setenv(mnist1d_pipeline.CACHE_ENV, str(blocker))
  workload = registry.get_workload('mnist1d')
  workload.splits(None)
  assert workload.data_location == 'generated'


def test_noisy_quadratic_is_generated():
  workload = registry.get_workload('noisy_quadratic')
  workload.splits('')
  assert workload.data_location == 'generated'


# --- the runner records it -----------------------------------------------------------------


def test_meta_data_records_the_data_location(tmp_path, mnist1d_data_dir):
  workload = registry.get_workload('mnist1d')
  log_dir = tmp_path / 'trial_1'
  runner.run_trial(runner.TrialConfig(
      workload=workload, workload_name='mnist1d',
      submission=submission.load_submission(SGD), hyperparameters=None, seed=0,
      global_batch_size=32, eval_batch_size=workload.eval_batch_size, budget_sec=1e9,
      data_dir=mnist1d_data_dir, log_dir=str(log_dir), max_global_steps=2,
      save_checkpoints=False, show_progress=False))
  meta = json.loads((log_dir / 'meta_data_0.json').read_text())
  assert meta['data_location'] == (
      f'generated, cached at {mnist1d_pipeline.cache_path(mnist1d_data_dir)}')
