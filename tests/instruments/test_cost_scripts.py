"""benchmarks/instrument_pieces.py and benchmarks/hvp_in_loops.py on a tiny setting: they
time what they say (positive medians for every group and arrangement) and the three HVP
arrangements compute the same products."""

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load(script):
  """Import the script; yield it; forget it and the absl flags it defined (the two scripts
  define flags of the same names)."""
  from absl import flags
  before = set(flags.FLAGS)
  name = f'{script}_under_test'
  spec = importlib.util.spec_from_file_location(name, ROOT / 'benchmarks' / f'{script}.py')
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  defined = set(flags.FLAGS) - before
  yield module
  sys.modules.pop(name, None)
  for flag in defined:
    delattr(flags.FLAGS, flag)


@pytest.fixture
def pieces():
  yield from _load('instrument_pieces')


@pytest.fixture
def loops():
  yield from _load('hvp_in_loops')


def test_pieces_times_each_group_and_the_batch_gradient(pieces):
  result = pieces.measure('noisy_quadratic', ['basics', 'tests'], repeats=1, batch_size=16)
  assert set(result) == {'grad', 'basics', 'tests'}
  assert all(seconds > 0 and first > 0 for seconds, first in result.values())


def test_hvp_arrangements_agree_and_are_timed(loops):
  import numpy as np
  result = loops.measure('noisy_quadratic', probes=2, repeats=1)
  assert set(result) == set(loops.ARRANGEMENTS)
  assert all(seconds > 0 for seconds, _ in result.values())
  products = loops.products('noisy_quadratic', probes=2)
  for name in loops.ARRANGEMENTS[1:]:
    np.testing.assert_allclose(np.asarray(products[name]),
                               np.asarray(products[loops.ARRANGEMENTS[0]]), rtol=1e-5)
