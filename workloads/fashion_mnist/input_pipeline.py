"""Fashion-MNIST from the standard IDX files (gzipped or not), held in memory.

Files are looked for in `<data_dir>/fashion_mnist/`, then `<data_dir>/`, then the Debian
package's folder. Validation is the last 10k of the official train set; test is the
official test set.
"""

from __future__ import annotations

import os

import numpy as np

from algoperf.data import idx
from algoperf.data.errors import DatasetUnavailableError
from workloads.common import splits as splits_lib

SYSTEM_DIR = '/usr/share/datasets/fashion-mnist'
FILES = {
    'train_images': 'train-images-idx3-ubyte',
    'train_labels': 'train-labels-idx1-ubyte',
    'test_images': 't10k-images-idx3-ubyte',
    'test_labels': 't10k-labels-idx1-ubyte',
}
NUM_VALIDATION = 10_000
HOW_TO_GET = (
    'Install the Debian package (apt-get install dataset-fashion-mnist, files land in '
    f'{SYSTEM_DIR}) or download the four *-ubyte.gz files from '
    'https://github.com/zalandoresearch/fashion-mnist#get-the-data into --data_dir.')


def candidate_dirs(data_dir: str | None) -> list[str]:
  dirs = [os.path.join(data_dir, 'fashion_mnist'), data_dir] if data_dir else []
  return dirs + [SYSTEM_DIR]


def _find(directory: str, stem: str) -> str | None:
  for name in (stem + '.gz', stem):
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      return path
  return None


def find_files(data_dir: str | None) -> dict[str, str]:
  """Paths of the four IDX files from the first folder that holds all of them."""
  searched = candidate_dirs(data_dir)
  for directory in searched:
    paths = {key: _find(directory, stem) for key, stem in FILES.items()}
    if all(paths.values()):
      return paths
  raise DatasetUnavailableError(
      f'Fashion-MNIST IDX files ({", ".join(FILES.values())}, optionally .gz) not found in '
      f'any of {searched}. {HOW_TO_GET}')


def _read(path: str, shape: tuple[int, ...]) -> np.ndarray:
  try:
    values = idx.read_idx(path)
  except idx.IdxFormatError as e:
    raise DatasetUnavailableError(f'Corrupt Fashion-MNIST file {path}: {e}. {HOW_TO_GET}') from e
  if values.shape[1:] != shape or values.dtype != np.uint8:
    raise DatasetUnavailableError(
        f'Corrupt Fashion-MNIST file {path}: got {values.dtype}{values.shape}, expected '
        f'uint8 (N, {", ".join(map(str, shape))}). {HOW_TO_GET}')
  return values


def read_raw(data_dir: str | None) -> dict[str, np.ndarray]:
  """The four arrays as stored: uint8 images (N, 28, 28) and uint8 labels (N,)."""
  paths = find_files(data_dir)
  raw = {key: _read(path, (28, 28) if key.endswith('images') else ())
         for key, path in paths.items()}
  for part in ('train', 'test'):
    if len(raw[f'{part}_images']) != len(raw[f'{part}_labels']):
      raise DatasetUnavailableError(
          f'Fashion-MNIST {part} images and labels differ in length '
          f'({paths[part + "_images"]}, {paths[part + "_labels"]}). {HOW_TO_GET}')
  return raw


def load_splits(data_dir: str | None, mean: float, stddev: float,
                num_validation: int = NUM_VALIDATION) -> dict[str, dict[str, np.ndarray]]:
  """Standardised (N, 28, 28, 1) float32 images; pixels scaled to [0, 1] first."""
  raw = read_raw(data_dir)

  def split(part):
    images = splits_lib.standardize(raw[f'{part}_images'][..., None], mean, stddev, 255.0)
    return splits_lib.examples(images, raw[f'{part}_labels'])

  train, validation = splits_lib.carve(split('train'), num_validation)
  return {'train': train, 'eval_train': train, 'validation': validation,
          'test': split('test')}
