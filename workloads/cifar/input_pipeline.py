"""CIFAR-10 from a prepared TFDS `cifar10:3.0.2` (array_record, read without TensorFlow).

Splits as AlgoPerf's: train[:45000] train, train[45000:] validation, test test. Train
images stay uint8 in memory; each batch is augmented as AlgoPerf's (pad to 36x36 with
black, random 32x32 crop, random horizontal flip) and standardised on the fly.
"""

from __future__ import annotations

import functools

import numpy as np

from algoperf.data import tfds_arrays
from workloads.common import splits as splits_lib

TFDS_NAME = 'cifar10:3.0.2'
NUM_TRAIN = 45_000
CROP_SIZE = 32
PADDING_SIZE = 4  # Total over both sides, as AlgoPerf's resize_with_crop_or_pad(32 + 4).
KEYS = {'image': 'inputs', 'label': 'targets'}


def random_crop_and_flip(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Per-example random crop of the zero-padded images and random left-right flip."""
  n = len(images)
  lo = PADDING_SIZE // 2
  padded = np.pad(images, ((0, 0), (lo, PADDING_SIZE - lo), (lo, PADDING_SIZE - lo),
                           (0, 0)))
  top, left = rng.integers(0, PADDING_SIZE + 1, size=(2, n))
  rows = top[:, None] + np.arange(CROP_SIZE)
  cols = left[:, None] + np.arange(CROP_SIZE)
  flip = rng.random(n) < 0.5
  cols = np.where(flip[:, None], cols[:, ::-1], cols)
  return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def augment(batch: dict[str, np.ndarray], rng: np.random.Generator, mean,
            stddev) -> dict[str, np.ndarray]:
  images = random_crop_and_flip(batch['inputs'], rng)
  return {**batch, 'inputs': splits_lib.standardize(images, mean, stddev, 255.0)}


def make_augment(mean, stddev):
  return functools.partial(augment, mean=mean, stddev=stddev)


def load_splits(data_dir: str | None, mean, stddev, num_eval_train: int,
                num_train: int = NUM_TRAIN) -> tuple[dict[str, dict[str, np.ndarray]], str]:
  """'train' holds uint8 images (see `augment`); eval splits hold standardised float32.
  Also returns the prepared dataset's folder."""
  builder = tfds_arrays.open_builder(TFDS_NAME, data_dir, workload_name='cifar')

  def standardized(arrays):
    return splits_lib.examples(splits_lib.standardize(arrays['inputs'], mean, stddev, 255.0),
                               arrays['targets'])

  train = tfds_arrays.load_split(builder, f'train[:{num_train}]', KEYS)
  eval_train = standardized({k: v[:num_eval_train] for k, v in train.items()})
  return {
      'train': splits_lib.examples(train['inputs'], train['targets']),
      'eval_train': eval_train,
      'validation': standardized(tfds_arrays.load_split(builder, f'train[{num_train}:]',
                                                        KEYS)),
      'test': standardized(tfds_arrays.load_split(builder, 'test', KEYS)),
  }, str(builder.data_path)
