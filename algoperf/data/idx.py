"""Reader for the IDX format of (Fashion-)MNIST files, gzipped or not.

Format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number — two zero bytes, a
dtype code, the number of dimensions — then one big-endian uint32 per dimension, then
the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

_DTYPES = {
    0x08: np.dtype('>u1'),
    0x09: np.dtype('>i1'),
    0x0B: np.dtype('>i2'),
    0x0C: np.dtype('>i4'),
    0x0D: np.dtype('>f4'),
    0x0E: np.dtype('>f8'),
}


class IdxFormatError(ValueError):
  """The bytes are not a well-formed IDX file."""


def parse_idx(data: bytes) -> np.ndarray:
  """Decode the bytes of one IDX file into a native-endian array."""
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
    raise IdxFormatError('bad magic number (expected 0x00 0x00 <dtype> <ndim>)')
  dtype, ndim = _DTYPES[data[2]], data[3]
  header = 4 + 4 * ndim
  if len(data) < header:
    raise IdxFormatError(f'truncated header for {ndim} dimensions')
  shape = tuple(int(d) for d in np.frombuffer(data, '>u4', count=ndim, offset=4))
  expected = header + int(np.prod(shape)) * dtype.itemsize
  if len(data) != expected:
    raise IdxFormatError(f'{len(data)} bytes, expected {expected} for shape {shape}')
  values = np.frombuffer(data, dtype, offset=header).reshape(shape)
  return values.astype(dtype.newbyteorder('='))


def read_idx(path: str | os.PathLike) -> np.ndarray:
  """Read an IDX file; a name ending in `.gz` is decompressed first."""
  opener = gzip.open if os.fspath(path).endswith('.gz') else open
  try:
    with opener(path, 'rb') as f:
      data = f.read()
  except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError.
    raise IdxFormatError(f'cannot read: {e}') from e
  return parse_idx(data)


def write_idx(path: str | os.PathLike, values: np.ndarray) -> None:
  """Write `values` as IDX (gzipped when `path` ends in `.gz`); used for test fixtures."""
  codes = {v.newbyteorder('='): k for k, v in _DTYPES.items()}
  values = np.asarray(values)
  code = codes[values.dtype.newbyteorder('=')]
  header = bytes([0, 0, code, values.ndim]) + np.asarray(values.shape, '>u4').tobytes()
  payload = header + values.astype(_DTYPES[code]).tobytes()
  opener = gzip.open if os.fspath(path).endswith('.gz') else open
  with opener(path, 'wb') as f:
    f.write(payload)
