"""Small array helpers the input pipelines share: carving splits and standardising."""

from __future__ import annotations

import numpy as np

Arrays = dict[str, np.ndarray]


def standardize(x: np.ndarray, mean, stddev, scale: float = 1.0) -> np.ndarray:
  """(x / scale - mean) / stddev as float32; `scale`=255 turns uint8 pixels into [0, 1]."""
  x = x.astype(np.float32) / np.float32(scale)
  return (x - np.asarray(mean, np.float32)) / np.asarray(stddev, np.float32)


def examples(inputs: np.ndarray, targets: np.ndarray) -> Arrays:
  """The batch-dict layout every split uses: float32 inputs, int32 class labels."""
  return {'inputs': inputs, 'targets': targets.astype(np.int32)}


def carve(arrays: Arrays, num_validation: int) -> tuple[Arrays, Arrays]:
  """Split off the LAST `num_validation` examples as validation (fixed, deterministic)."""
  if not 0 < num_validation < len(arrays['targets']):
    raise ValueError(f'Cannot carve {num_validation} validation examples from '
                     f'{len(arrays["targets"])}.')
  cut = len(arrays['targets']) - num_validation
  return ({k: v[:cut] for k, v in arrays.items()}, {k: v[cut:] for k, v in arrays.items()})
