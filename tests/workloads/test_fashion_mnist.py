"""Fashion-MNIST: the IDX reader on files in the real format, and clear data errors."""

import gzip
import os

import numpy as np
import pytest

from algoperf.data import idx
from algoperf.data.errors import DatasetUnavailableError
from workloads import registry
from workloads.fashion_mnist import input_pipeline


@pytest.mark.parametrize('suffix', ['', '.gz'])
def test_idx_round_trip(tmp_path, suffix):
  images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  path = tmp_path / f'images{suffix}'
  idx.write_idx(path, images)
  raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
  # Magic 0x00000803 (uint8, 3 dims), then big-endian dims 2, 3, 4, then the bytes.
  assert raw[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
  np.testing.assert_array_equal(idx.read_idx(path), images)


def test_idx_reads_big_endian_int32(tmp_path):
  path = tmp_path / 'ints'
  path.write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + np.array([1, -2], '>i4').tobytes())
  np.testing.assert_array_equal(idx.read_idx(path), [1, -2])


@pytest.mark.parametrize('damage', ['truncate', 'magic', 'not_gzip'])
def test_corrupt_file_names_the_path(tmp_path, fashion_writer, damage):
  directory = tmp_path / 'fashion_mnist'
  fashion_writer(directory, num_train=10_010, num_test=10)
  victim = directory / 'train-images-idx3-ubyte.gz'
  data = gzip.decompress(victim.read_bytes())
  if damage == 'truncate':
    victim.write_bytes(gzip.compress(data[:-5]))
  elif damage == 'magic':
    victim.write_bytes(gzip.compress(b'\x01' + data[1:]))
  else:
    victim.write_bytes(data)
  with pytest.raises(DatasetUnavailableError, match=f'Corrupt.*{victim}.*dataset-fashion-mnist'):
    input_pipeline.read_raw(str(tmp_path))


def test_missing_files_list_searched_dirs_and_how_to_get(tmp_path, monkeypatch):
  monkeypatch.setattr(input_pipeline, 'SYSTEM_DIR', str(tmp_path / 'nowhere'))
  with pytest.raises(DatasetUnavailableError) as error:
    registry.get_workload('fashion_mnist')._build_input_queue(None, 'train', str(tmp_path), 8)
  message = str(error.value)
  assert str(tmp_path / 'fashion_mnist') in message and 'nowhere' in message
  assert 'apt-get install dataset-fashion-mnist' in message
  assert 'zalandoresearch/fashion-mnist' in message


def test_uncompressed_files_and_label_mismatch(tmp_path, fashion_writer):
  fashion_writer(tmp_path, num_train=10_020, num_test=10, suffix='')
  raw = input_pipeline.read_raw(str(tmp_path))
  assert raw['train_images'].shape == (10_020, 28, 28)
  idx.write_idx(tmp_path / 't10k-labels-idx1-ubyte', np.zeros(9, np.uint8))
  with pytest.raises(DatasetUnavailableError, match='differ in length'):
    input_pipeline.read_raw(str(tmp_path))


def test_validation_is_the_last_10k_of_train(fashion_data_dir):
  raw = input_pipeline.read_raw(fashion_data_dir)
  splits = registry.get_workload('fashion_mnist').splits(fashion_data_dir)
  np.testing.assert_array_equal(splits['validation']['targets'], raw['train_labels'][-10_000:])
  assert splits['train']['inputs'].shape == (len(raw['train_labels']) - 10_000, 28, 28, 1)
  assert len(splits['test']['targets']) == len(raw['test_labels'])


@pytest.mark.skipif(not os.path.isdir(input_pipeline.SYSTEM_DIR),
                    reason='Debian package dataset-fashion-mnist not installed')
def test_real_files_sizes_and_train_statistics():
  workload = registry.get_workload('fashion_mnist')
  splits = workload.splits(None)
  for split, size in (('train', workload.num_train_examples),
                      ('validation', workload.num_validation_examples),
                      ('test', workload.num_test_examples)):
    assert len(splits[split]['targets']) == size
  inputs = splits['train']['inputs']
  assert abs(float(inputs.mean())) < 1e-3
  assert float(inputs.std()) == pytest.approx(1.0, abs=1e-3)
  assert np.bincount(splits['validation']['targets']).min() > 900  # Class-balanced.
