"""mnist and cifar through TFDS without TensorFlow: real on-disk format, fail-fast offline."""

import json
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from algoperf import spec
from algoperf.data.errors import DatasetUnavailableError
from algoperf.spec import ParameterType as T
from workloads import download, registry
from workloads.cifar import input_pipeline as cifar_pipeline


@pytest.fixture
def no_network(monkeypatch):
  def refuse(*args, **kwargs):
    raise AssertionError('tried to open a network connection')

  monkeypatch.setattr(socket.socket, 'connect', refuse)


@pytest.mark.parametrize('name,tfds_dir', [('mnist', 'mnist/3.0.1'),
                                           ('cifar', 'cifar10/3.0.2')])
def test_missing_dataset_fails_at_once_with_instructions(tmp_path, no_network, name,
                                                         tfds_dir):
  workload = registry.get_workload(name)
  with pytest.raises(DatasetUnavailableError) as error:
    workload._build_input_queue(jax.random.key(0), 'train', str(tmp_path), 8)
  message = str(error.value)
  assert str(tmp_path / tfds_dir) in message
  assert f'python -m workloads.download {name} --data_dir {tmp_path}' in message
  assert 'algoperf[tf]' in message


def test_tfrecord_prepared_dataset_is_refused_with_instructions(tmp_path, tfds_writer):
  path = tfds_writer(str(tmp_path), 'mnist:3.0.1', {'train': [], 'test': []})
  info_path = f'{path}/dataset_info.json'
  info = json.load(open(info_path))
  info['fileFormat'] = 'tfrecord'
  json.dump(info, open(info_path, 'w'))
  with pytest.raises(DatasetUnavailableError, match='tfrecord.*array_record'):
    registry.get_workload('mnist').splits(str(tmp_path))


def test_mnist_splits_follow_algoperf_cut(prepared):
  workload, data_dir = prepared('mnist')
  splits = workload.splits(data_dir)
  assert splits['train']['inputs'].shape == (64, 28, 28, 1)
  assert splits['validation']['inputs'].shape == (32, 28, 28, 1)
  assert splits['test']['inputs'].shape == (32, 28, 28, 1)
  # The fixture labels are index % 10: validation starts at train index 64.
  np.testing.assert_array_equal(splits['validation']['targets'], (64 + np.arange(32)) % 10)
  assert splits['train']['inputs'].dtype == np.float32


def test_download_without_tensorflow_says_what_to_install(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'workloads.download', 'cifar', '--data_dir', str(tmp_path)],
      capture_output=True, text=True)
  assert result.returncode == 1
  assert 'algoperf[tf]' in result.stderr and 'cifar10:3.0.2' in result.stderr


def test_cifar_augmentation_crops_flips_and_is_seeded():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
  out = cifar_pipeline.random_crop_and_flip(images, np.random.default_rng(5))
  again = cifar_pipeline.random_crop_and_flip(images, np.random.default_rng(5))
  np.testing.assert_array_equal(out, again)
  assert out.shape == images.shape
  # Every output is a (possibly flipped) 32x32 window of the image padded by 2 with zeros.
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
  for i in range(len(images)):
    windows = [padded[i, t:t + 32, s:s + 32] for t in range(5) for s in range(5)]
    windows += [w[:, ::-1] for w in windows]
    assert any(np.array_equal(out[i], w) for w in windows)
  assert not np.array_equal(out, images)


@pytest.fixture(scope='module')
def cifar_model(prepared):
  """One ResNet-18 init shared by the cifar tests (compiling it takes seconds)."""
  workload, data_dir = prepared('cifar')
  params, model_state = workload.init_model_fn(jax.random.key(0))
  return workload, data_dir, params, model_state


def test_resnet_types_batch_norm_conv_and_dense(cifar_model):
  workload, _, params, model_state = cifar_model
  assert set(model_state) == {'batch_stats'}
  types = workload.model_params_types
  assert types['Conv_init'] == {'kernel': T.CONV_WEIGHT}
  assert types['BatchNorm_init'] == {'scale': T.BATCH_NORM_SCALE, 'bias': T.BATCH_NORM_BIAS}
  assert types['ResNetBlock_2']['BatchNorm_proj']['scale'] == T.BATCH_NORM_SCALE
  assert types['Dense_0'] == {'kernel': T.WEIGHT, 'bias': T.BIAS}
  counts = {}
  for t in jax.tree.leaves(types):
    counts[t] = counts.get(t, 0) + 1
  assert counts[T.CONV_WEIGHT] == 1 + 8 * 2 + 3  # stem, 8 blocks x 2, 3 projections
  assert counts[T.BATCH_NORM_SCALE] == counts[T.CONV_WEIGHT]
  num_params = sum(x.size for x in jax.tree.leaves(params))
  assert 11_000_000 < num_params < 11_300_000  # ResNet-18 for CIFAR: ~11.17M.


def test_cifar_batch_norm_state_updates_only_when_asked(cifar_model):
  workload, data_dir, params, model_state = cifar_model
  batch = next(workload._build_input_queue(jax.random.key(0), 'train', data_dir, 4))
  logits, new_state = workload.model_fn(params, batch, model_state,
                                        spec.ForwardPassMode.TRAIN, None, True)
  assert logits.shape == (4, 10)
  before = model_state['batch_stats']['BatchNorm_init']['mean']
  after = new_state['batch_stats']['BatchNorm_init']['mean']
  assert not np.allclose(before, after)
  _, same_state = workload.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL,
                                    None, False)
  assert same_state is model_state


def test_cifar_eval_on_small_data(cifar_model):
  workload, data_dir, params, model_state = cifar_model
  results = workload.eval_model(32, params, model_state, None, data_dir, None, 0)
  for prefix in ('train', 'validation', 'test'):
    assert type(results[f'{prefix}/accuracy']) is float
    assert 0.0 <= results[f'{prefix}/accuracy'] <= 1.0
    assert results[f'{prefix}/loss'] > 0


def test_download_prints_instructions_for_offline_workloads(capsys):
  assert download.main(['fashion_mnist']) == 0
  assert 'dataset-fashion-mnist' in capsys.readouterr().out
