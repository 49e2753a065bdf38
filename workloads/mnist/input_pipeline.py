"""MNIST from a prepared TFDS `mnist:3.0.1` (array_record, read without TensorFlow).

Splits as AlgoPerf's: train[:50000] train, train[50000:] validation, test test.
"""

from __future__ import annotations

import numpy as np

from algoperf.data import tfds_arrays
from workloads.common import splits as splits_lib

TFDS_NAME = 'mnist:3.0.1'
NUM_TRAIN = 50_000
KEYS = {'image': 'inputs', 'label': 'targets'}


def load_splits(data_dir: str | None, mean: float, stddev: float,
                num_train: int = NUM_TRAIN) -> tuple[dict[str, dict[str, np.ndarray]], str]:
  """Standardised (N, 28, 28, 1) float32 images (pixels scaled to [0, 1] first), and the
  prepared dataset's folder."""
  builder = tfds_arrays.open_builder(TFDS_NAME, data_dir, workload_name='mnist')

  def split(tfds_split):
    arrays = tfds_arrays.load_split(builder, tfds_split, KEYS)
    return splits_lib.examples(
        splits_lib.standardize(arrays['inputs'], mean, stddev, 255.0), arrays['targets'])

  train = split(f'train[:{num_train}]')
  return {'train': train, 'eval_train': train, 'validation': split(f'train[{num_train}:]'),
          'test': split('test')}, str(builder.data_path)
