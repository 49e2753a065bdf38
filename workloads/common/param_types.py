"""Parameter types (`spec.ParameterType`) read off Flax parameter names.

Submissions use these to treat e.g. norm scales differently from weights. Unlike
AlgoPerf's helper, the type tree keeps the parameter tree's own keys (AlgoPerf lower-cases
them, so `types['Dense_0']` fails there).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from algoperf import spec

T = spec.ParameterType


def _leaf_type(path: tuple[str, ...], leaf) -> spec.ParameterType:
  name = path[-1]
  module = path[-2].lower() if len(path) > 1 else ''
  if 'batchnorm' in module:
    return T.BATCH_NORM_SCALE if name == 'scale' else T.BATCH_NORM_BIAS
  if 'layernorm' in module:
    return T.LAYER_NORM_SCALE if name == 'scale' else T.LAYER_NORM_BIAS
  if name == 'embedding':
    return T.EMBEDDING
  if name == 'bias':
    return T.BIAS
  if name == 'kernel' and np.ndim(leaf) > 2:
    return T.CONV_WEIGHT
  return T.WEIGHT


def infer_param_types(params: Mapping, path: tuple[str, ...] = ()) -> dict:
  """A tree shaped like `params` whose leaves are `spec.ParameterType`s."""
  return {
      key: infer_param_types(value, path + (key,)) if isinstance(value, Mapping)
      else _leaf_type(path + (key,), value)
      for key, value in params.items()
  }
