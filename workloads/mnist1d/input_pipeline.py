"""MNIST-1D generated offline by the `mnist1d` package with fixed arguments.

`mnist1d.data.get_dataset` downloads a pickle by default, so we call its generator
`make_dataset` directly: no network, same data on every machine. The generator seeds
NumPy's and Python's global RNGs; we restore them afterwards so loading a workload has
no side effect on other code. Generating 40k examples takes 10-20 s on a 2-core CPU (a
Python loop per example), and every trial process would pay it, so the arrays are cached
as one .npz: under `<data_dir>/mnist1d/` when a data_dir is given, else under
`$ALGOPERF_CACHE_DIR/mnist1d/` (default `${XDG_CACHE_HOME:-~/.cache}/algoperf`; set it
empty for no cache). A cache that cannot be written only costs the regeneration.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import zipfile

import numpy as np

from workloads.common import splits as splits_lib

# The package's own defaults except 8x the sample count: with 4k training examples an
# MLP overfits at ~75% validation accuracy within seconds; with 28k it keeps improving
# for ~20k steps (to ~89%), so a target can be set that takes a while to reach.
NUM_SAMPLES = 40_000
SEED = 42
TRAIN_FRACTION = 0.8  # Of NUM_SAMPLES: train (incl. validation) vs test.
NUM_VALIDATION = 4_000
SEQUENCE_LENGTH = 40
CACHE_ENV = 'ALGOPERF_CACHE_DIR'

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _global_rng_preserved():
  np_state, py_state = np.random.get_state(), random.getstate()
  try:
    yield
  finally:
    np.random.set_state(np_state)
    random.setstate(py_state)


def generate(num_samples: int = NUM_SAMPLES, seed: int = SEED) -> dict[str, np.ndarray]:
  """The raw generated arrays: x (train part), y, x_test, y_test."""
  from mnist1d import data as mnist1d_data  # Imports matplotlib: only when generating.

  args = mnist1d_data.get_dataset_args()
  args.num_samples, args.seed, args.train_split = num_samples, seed, TRAIN_FRACTION
  with _global_rng_preserved():
    dataset = mnist1d_data.make_dataset(args)
  return {k: dataset[k] for k in ('x', 'y', 'x_test', 'y_test')}


def cache_path(data_dir: str, num_samples: int = NUM_SAMPLES, seed: int = SEED) -> str:
  from importlib.metadata import version
  name = f'mnist1d-{version("mnist1d")}-n{num_samples}-seed{seed}-split{TRAIN_FRACTION}.npz'
  return os.path.join(data_dir, 'mnist1d', name)


def default_cache_dir() -> str | None:
  """The cache root without a data_dir: $ALGOPERF_CACHE_DIR (empty: none), else the user's
  cache folder, so trials of every experiment share one generation."""
  if CACHE_ENV in os.environ:
    return os.environ[CACHE_ENV] or None
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(root, 'algoperf')


def cache_file(data_dir: str | None, num_samples: int = NUM_SAMPLES,
               seed: int = SEED) -> str | None:
  """The cache file `generate_cached` uses (None: no cache)."""
  root = data_dir or default_cache_dir()
  return cache_path(root, num_samples, seed) if root else None


def generate_cached(data_dir: str | None, num_samples: int = NUM_SAMPLES,
                    seed: int = SEED) -> dict[str, np.ndarray]:
  """`generate`, read from / written to `cache_file` (atomic write)."""
  path = cache_file(data_dir, num_samples, seed)
  if path is None:
    return generate(num_samples, seed)
  if os.path.exists(path):
    try:
      with np.load(path) as cached:
        return dict(cached)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
      logger.warning('Unreadable MNIST-1D cache %s (%s): regenerating.', path, e)
  raw = generate(num_samples, seed)
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), suffix='.npz',
                                     delete=False) as f:
      np.savez(f, **raw)
    os.chmod(f.name, 0o644)
    os.replace(f.name, path)
  except OSError as e:
    logger.warning('Could not cache MNIST-1D at %s (%s); it is regenerated each time.',
                   path, e)
  return raw


def load_splits(data_dir: str | None, mean: float, stddev: float,
                num_samples: int = NUM_SAMPLES,
                num_validation: int = NUM_VALIDATION
                ) -> tuple[dict[str, dict[str, np.ndarray]], str]:
  """Train / validation (the last `num_validation` train examples) / test, standardised,
  and where they came from ('generated', or 'generated, cached at <path>')."""
  raw = generate_cached(data_dir, num_samples)
  path = cache_file(data_dir, num_samples)
  location = f'generated, cached at {path}' if path and os.path.exists(path) else 'generated'
  train = splits_lib.examples(splits_lib.standardize(raw['x'], mean, stddev), raw['y'])
  test = splits_lib.examples(splits_lib.standardize(raw['x_test'], mean, stddev),
                             raw['y_test'])
  train, validation = splits_lib.carve(train, num_validation)
  return {'train': train, 'eval_train': train, 'validation': validation,
          'test': test}, location
