"""MNIST-1D: generated offline, deterministically, with no global side effects."""

import os
import random

import numpy as np
import pytest

from workloads import registry
from workloads.mnist1d import input_pipeline


def test_generation_is_deterministic_and_leaves_global_rngs_alone():
  np.random.seed(123)
  random.seed(123)
  expected_np, expected_py = np.random.rand(), random.random()
  np.random.seed(123)
  random.seed(123)
  a = input_pipeline.generate(num_samples=500)
  b = input_pipeline.generate(num_samples=500)
  assert np.random.rand() == expected_np and random.random() == expected_py
  for key in ('x', 'y', 'x_test', 'y_test'):
    np.testing.assert_array_equal(a[key], b[key])
  assert a['x'].shape == (400, input_pipeline.SEQUENCE_LENGTH)
  assert a['x_test'].shape == (100, input_pipeline.SEQUENCE_LENGTH)
  assert set(np.unique(a['y'])) == set(range(10))


def test_generation_does_not_touch_the_network(monkeypatch):
  import socket

  def refuse(*args, **kwargs):
    raise AssertionError('mnist1d generation tried to open a network connection')

  monkeypatch.setattr(socket.socket, 'connect', refuse)
  assert len(input_pipeline.generate(num_samples=100)['y']) == 80


def test_cache_round_trip(tmp_path, monkeypatch):
  raw = input_pipeline.generate_cached(str(tmp_path), num_samples=300)
  path = input_pipeline.cache_path(str(tmp_path), num_samples=300)
  assert os.path.exists(path)
  monkeypatch.setattr(input_pipeline, 'generate', lambda *a: pytest.fail('regenerated'))
  cached = input_pipeline.generate_cached(str(tmp_path), num_samples=300)
  for key in raw:
    np.testing.assert_array_equal(raw[key], cached[key])


def test_splits_are_disjoint_and_fixed(mnist1d_data_dir):
  splits = registry.get_workload('mnist1d').splits(mnist1d_data_dir)
  assert len(splits['validation']['targets']) == input_pipeline.NUM_VALIDATION
  train, validation = splits['train']['inputs'], splits['validation']['inputs']
  assert not any((validation == row).all(axis=1).any() for row in train[:50])
  again = registry.get_workload('mnist1d_gelu').splits(mnist1d_data_dir)
  np.testing.assert_array_equal(again['validation']['inputs'], validation)


@pytest.mark.slow
def test_full_size_split_sizes_and_standardisation(tmp_path):
  workload = registry.get_workload('mnist1d')
  splits = workload.splits(str(tmp_path))
  assert len(splits['train']['targets']) == workload.num_train_examples
  assert len(splits['validation']['targets']) == workload.num_validation_examples
  assert len(splits['test']['targets']) == workload.num_test_examples
  assert abs(float(splits['train']['inputs'].mean())) < 1e-3
  assert float(splits['train']['inputs'].std()) == pytest.approx(1.0, abs=1e-3)
