"""MNIST-1D generated offline by the `mnist1d` package with fixed arguments.

`mnist1d.data.get_dataset` downloads a pickle by default, so we call its generator
`make_dataset` directly: no network, same data on every machine. The generator seeds
NumPy's and Python's global RNGs; we restore them afterwards so loading a workload has
no side effect on other code. Generating 40k examples takes ~10 s (a Python loop per
example), so with a `data_dir` the arrays are cached there as one .npz.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile

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


def generate_cached(data_dir: str | None, num_samples: int = NUM_SAMPLES,
                    seed: int = SEED) -> dict[str, np.ndarray]:
  """`generate`, read from / written to `data_dir` when one is given (atomic write)."""
  if not data_dir:
    return generate(num_samples, seed)
  path = cache_path(data_dir, num_samples, seed)
  if os.path.exists(path):
    with np.load(path) as cached:
      return dict(cached)
  raw = generate(num_samples, seed)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), suffix='.npz',
                                   delete=False) as f:
    np.savez(f, **raw)
  os.chmod(f.name, 0o644)
  os.replace(f.name, path)
  return raw


def load_splits(data_dir: str | None, mean: float, stddev: float,
                num_samples: int = NUM_SAMPLES,
                num_validation: int = NUM_VALIDATION) -> dict[str, dict[str, np.ndarray]]:
  """Train / validation (the last `num_validation` train examples) / test, standardised."""
  raw = generate_cached(data_dir, num_samples)
  train = splits_lib.examples(splits_lib.standardize(raw['x'], mean, stddev), raw['y'])
  test = splits_lib.examples(splits_lib.standardize(raw['x_test'], mean, stddev),
                             raw['y_test'])
  train, validation = splits_lib.carve(train, num_validation)
  return {'train': train, 'eval_train': train, 'validation': validation, 'test': test}
