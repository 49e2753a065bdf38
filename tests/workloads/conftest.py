"""Small data in each workload's real on-disk format, and a tiny training loop.

- TFDS (mnist, cifar): a prepared `array_record` dataset written with TFDS's own feature
  serializer and metadata writer — exactly what `download_and_prepare` leaves on disk —
  with PIL encoding the PNGs, so no TensorFlow is needed.
- Fashion-MNIST: gzipped IDX files.
- MNIST-1D: the workload's cache file, filled from the real generator with fewer samples.
"""

from __future__ import annotations

import io
import os

import char_lm_data
import jax
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds
from array_record.python import array_record_module
from PIL import Image

from algoperf import spec
from algoperf.data import idx
from workloads import registry
from workloads.mnist1d import input_pipeline as mnist1d_pipeline

NUM_CLASSES = 10


def class_images(rng: np.random.Generator, labels: np.ndarray,
                 shape: tuple[int, ...]) -> np.ndarray:
  """uint8 images whose class is visible (a per-class bright band) under noise."""
  images = rng.integers(0, 100, size=(len(labels), *shape), dtype=np.uint8)
  band = shape[0] // NUM_CLASSES
  for i, label in enumerate(labels):
    images[i, label * band:(label + 1) * band] += 150
  return images


def write_tfds_dataset(data_dir: str, tfds_name: str,
                       splits: dict[str, list[dict]], file_format='array_record') -> str:
  """Write `splits` as the prepared TFDS dataset `tfds_name` under `data_dir`."""
  builder = tfds.builder(tfds_name, data_dir=data_dir, file_format=file_format)
  builder.data_path.mkdir(parents=True)
  features = builder.info.features
  infos = []
  for split, examples in splits.items():
    template = tfds.core.ShardedFileTemplate(
        data_dir=builder.data_path, dataset_name=builder.name, split=split,
        filetype_suffix=file_format)
    writer = array_record_module.ArrayRecordWriter(
        os.fspath(template.sharded_filepath(shard_index=0, num_shards=1)), 'group_size:1')
    num_bytes = 0
    for example in examples:
      record = features.serialize_example(example)
      writer.write(record)
      num_bytes += len(record)
    writer.close()
    infos.append(tfds.core.SplitInfo(name=split, shard_lengths=[len(examples)],
                                     num_bytes=num_bytes, filename_template=template))
  builder.info.set_splits(tfds.core.SplitDict(infos))
  builder.info.write_to_directory(builder.data_path)
  return os.fspath(builder.data_path)


def png(image: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, 'PNG')
  return buffer.getvalue()


def image_examples(seed: int, n: int, shape: tuple[int, ...], with_id: bool) -> list[dict]:
  rng = np.random.default_rng(seed)
  labels = np.arange(n) % NUM_CLASSES
  images = class_images(rng, labels, shape)
  examples = [{'image': png(image), 'label': int(label)}
              for image, label in zip(images, labels, strict=True)]
  if with_id:
    for i, example in enumerate(examples):
      example['id'] = f'train_{seed}_{i:05d}'
  return examples


# Small TFDS datasets: train = 64 + 32 examples (AlgoPerf's train[:N] / train[N:] cut
# moves to N=64 on the test's workload object), test = 32.
TFDS_TRAIN, TFDS_VALIDATION, TFDS_TEST = 64, 32, 32


@pytest.fixture(scope='session')
def mnist_tfds_dir(tmp_path_factory) -> str:
  data_dir = tmp_path_factory.mktemp('tfds_mnist')
  write_tfds_dataset(os.fspath(data_dir), 'mnist:3.0.1', {
      'train': image_examples(0, TFDS_TRAIN + TFDS_VALIDATION, (28, 28, 1), False),
      'test': image_examples(1, TFDS_TEST, (28, 28, 1), False)})
  return os.fspath(data_dir)


@pytest.fixture(scope='session')
def cifar_tfds_dir(tmp_path_factory) -> str:
  data_dir = tmp_path_factory.mktemp('tfds_cifar')
  write_tfds_dataset(os.fspath(data_dir), 'cifar10:3.0.2', {
      'train': image_examples(2, TFDS_TRAIN + TFDS_VALIDATION, (32, 32, 3), True),
      'test': image_examples(3, TFDS_TEST, (32, 32, 3), True)})
  return os.fspath(data_dir)


# Fashion-MNIST IDX files: 10k validation is carved from train, so train needs > 10k.
FASHION_TRAIN, FASHION_TEST = 10_000 + 512, 256


def write_fashion_idx(directory, num_train=FASHION_TRAIN, num_test=FASHION_TEST,
                      suffix='.gz') -> None:
  rng = np.random.default_rng(0)
  os.makedirs(directory, exist_ok=True)
  for part, n in (('train', num_train), ('t10k', num_test)):
    labels = (np.arange(n) % NUM_CLASSES).astype(np.uint8)
    idx.write_idx(os.path.join(directory, f'{part}-images-idx3-ubyte{suffix}'),
                  class_images(rng, labels, (28, 28)))
    idx.write_idx(os.path.join(directory, f'{part}-labels-idx1-ubyte{suffix}'), labels)


@pytest.fixture(scope='session')
def fashion_data_dir(tmp_path_factory) -> str:
  data_dir = tmp_path_factory.mktemp('fashion')
  write_fashion_idx(data_dir / 'fashion_mnist')
  return os.fspath(data_dir)


# MNIST-1D: the real generator, 6000 samples instead of 40000 (4800 train part: 800 train
# + 4000 validation; 1200 test), stored under the cache name the workload looks for.
MNIST1D_TEST_SAMPLES = 6_000


@pytest.fixture(scope='session')
def mnist1d_data_dir(tmp_path_factory) -> str:
  data_dir = os.fspath(tmp_path_factory.mktemp('mnist1d'))
  raw = mnist1d_pipeline.generate(MNIST1D_TEST_SAMPLES)
  path = mnist1d_pipeline.cache_path(data_dir)
  os.makedirs(os.path.dirname(path))
  np.savez(path, **raw)
  return data_dir


@pytest.fixture(scope='session')
def char_lm_data_dir(tmp_path_factory) -> str:
  root = tmp_path_factory.mktemp('char_lm')
  char_lm_data.write_module(root / 'char_lm')
  return os.fspath(root)


@pytest.fixture(scope='session')
def prepared(mnist_tfds_dir, cifar_tfds_dir, fashion_data_dir, mnist1d_data_dir,
             char_lm_data_dir):
  """`prepared(name)` -> (workload, data_dir): a fresh workload with its small test data."""

  def make(name: str):
    workload = registry.get_workload(name)
    base = registry.base_workload_name(name)
    if base in ('mnist', 'cifar'):
      # Shrink AlgoPerf's split sizes to the small dataset (instance attributes only).
      workload.NUM_TRAIN = TFDS_TRAIN
      workload.NUM_EVAL_TRAIN = TFDS_TRAIN
    data_dir = {'mnist': mnist_tfds_dir, 'cifar': cifar_tfds_dir,
                'fashion_mnist': fashion_data_dir, 'mnist1d': mnist1d_data_dir,
                'fashion_mnist_cnn': fashion_data_dir, 'mnist1d_cnn': mnist1d_data_dir,
                'char_lm': char_lm_data_dir, 'noisy_quadratic': ''}[base]
    return workload, data_dir

  return make


def train_steps(workload: spec.Workload, data_dir: str, batch_size: int, num_steps: int,
                learning_rate: float = 1e-3, seed: int = 0):
  """A minimal optax (Adam) loop through the workload API; returns losses and state."""
  queue = workload._build_input_queue(jax.random.key(seed), 'train', data_dir, batch_size)
  params, model_state = workload.init_model_fn(jax.random.key(seed + 1))
  optimizer = optax.adam(learning_rate)
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state, model_state, batch):
    def loss(params):
      logits, new_model_state = workload.model_fn(
          params, batch, model_state, spec.ForwardPassMode.TRAIN, None,
          update_batch_norm=True)
      out = workload.loss_fn(batch['targets'], logits)
      return out['summed'] / out['n_valid_examples'], new_model_state

    (value, new_model_state), grads = jax.value_and_grad(loss, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, new_model_state, value

  losses = []
  for _ in range(num_steps):
    params, opt_state, model_state, value = step(params, opt_state, model_state, next(queue))
    losses.append(float(value))
  return losses, params, model_state


@pytest.fixture
def trainer():
  return train_steps


@pytest.fixture
def tfds_writer():
  return write_tfds_dataset


@pytest.fixture
def fashion_writer():
  return write_fashion_idx
