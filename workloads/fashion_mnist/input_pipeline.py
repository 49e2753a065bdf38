"""Fashion-MNIST from the standard IDX files (gzipped or not), held in memory.

With a `data_dir`, files are looked for in `<data_dir>/fashion_mnist/`,
`<data_dir>/fashion-mnist/` and `<data_dir>/` only: data missing there is an error, never a
silent read of another copy. Without one, in the Debian package's folder. Validation is
the last 10k of the official train set; test is the official test set.
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


def how_to_get() -> str:
  # Built per call: SYSTEM_DIR is read when the message is made (tests move it).
  return ('Install the Debian package (apt-get install dataset-fashion-mnist, files land in '
          f'{SYSTEM_DIR}, read when no --data_dir is given) or download the four '
          '*-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist#get-the-data '
          'into --data_dir.')


def candidate_dirs(data_dir: str | None) -> list[str]:
  """Where files are looked for: under `data_dir` only when one is given."""
  if not data_dir:
    return [SYSTEM_DIR]
  return [os.path.join(data_dir, 'fashion_mnist'), os.path.join(data_dir, 'fashion-mnist'),
          data_dir]


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
      f'any of {searched}{" (the given --data_dir; no other place is read)" if data_dir else ""}'
      f'. {how_to_get()}')


def _read(path: str, shape: tuple[int, ...]) -> np.ndarray:
  try:
    values = idx.read_idx(path)
  except idx.IdxFormatError as e:
    raise DatasetUnavailableError(f'Corrupt Fashion-MNIST file {path}: {e}. {how_to_get()}') from e
  if values.shape[1:] != shape or values.dtype != np.uint8:
    raise DatasetUnavailableError(
        f'Corrupt Fashion-MNIST file {path}: got {values.dtype}{values.shape}, expected '
        f'uint8 (N, {", ".join(map(str, shape))}). {how_to_get()}')
  return values


def read_raw(data_dir: str | None) -> dict[str, np.ndarray]:
  """The four arrays as stored: uint8 images (N, 28, 28) and uint8 labels (N,)."""
  return read_files(find_files(data_dir))


def read_files(paths: dict[str, str]) -> dict[str, np.ndarray]:
  """`read_raw` of the files `find_files` returned."""
  raw = {key: _read(path, (28, 28) if key.endswith('images') else ())
         for key, path in paths.items()}
  for part in ('train', 'test'):
    if len(raw[f'{part}_images']) != len(raw[f'{part}_labels']):
      raise DatasetUnavailableError(
          f'Fashion-MNIST {part} images and labels differ in length '
          f'({paths[part + "_images"]}, {paths[part + "_labels"]}). {how_to_get()}')
  return raw


def load_splits(data_dir: str | None, mean: float, stddev: float,
                num_validation: int = NUM_VALIDATION
                ) -> tuple[dict[str, dict[str, np.ndarray]], str]:
  """Standardised (N, 28, 28, 1) float32 images (pixels scaled to [0, 1] first), and the
  folder the files were read from."""
  paths = find_files(data_dir)
  raw = read_files(paths)

  def split(part):
    images = splits_lib.standardize(raw[f'{part}_images'][..., None], mean, stddev, 255.0)
    return splits_lib.examples(images, raw[f'{part}_labels'])

  train, validation = splits_lib.carve(split('train'), num_validation)
  return ({'train': train, 'eval_train': train, 'validation': validation,
           'test': split('test')}, os.path.dirname(paths['train_images']))
