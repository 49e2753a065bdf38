"""The World English Bible as a byte stream, cut into fixed-length windows.

Source: the SWORD module `engWEB2015eb` of the Debian package `sword-text-web` (see the
"Data" section of `workloads/char_lm/__init__.py`). A SWORD zText module stores each
testament (`ot`, `nt`) as two files:

- `<t>.bzs`: one little-endian uint32 triple per block (offset in `.bzz`, compressed size,
  uncompressed size);
- `<t>.bzz`: the zlib-compressed blocks (one per book), whose text is OSIS XML.

The reader concatenates the blocks of `ot` then `nt`, drops footnotes and markup, and
collapses whitespace: about 5.0 MB of English prose on one line. The vocabulary is the
256 byte values of its UTF-8 encoding (fixed, so the model's shape never depends on data).
"""

from __future__ import annotations

import html
import os
import re
import struct
import zlib

import numpy as np

from algoperf.data.errors import DatasetUnavailableError

APT_PACKAGE = 'sword-text-web'
MODULE_PATH = os.path.join('modules', 'texts', 'ztext', 'engWEB2015eb')
SYSTEM_DIR = os.path.join('/usr/share/sword', MODULE_PATH)
TESTAMENTS = ('ot', 'nt')

VOCAB_SIZE = 256  # Byte values of the UTF-8 text.
SEQUENCE_LENGTH = 64
SPLIT_FRACTIONS = (0.90, 0.05, 0.05)  # train, validation, test: contiguous, in this order.

_INDEX_ENTRY = struct.Struct('<III')
_NOTE = re.compile(r'<note\b.*?</note>', re.S)
_TAG = re.compile(r'<[^>]*>')
_SPACE = re.compile(r'\s+')
# Removing a footnote can leave a space before closing punctuation; English prose has none.
_SPACE_BEFORE_CLOSING = re.compile(r' ([,.;:!?\u201d\u2019)])')

Arrays = dict[str, np.ndarray]


# --- the SWORD zText files ---------------------------------------------------------------


def how_to_get() -> str:
  # Built per call: SYSTEM_DIR is read when the message is made (tests move it).
  return (f'Install the Debian package (apt-get install {APT_PACKAGE}; files land in '
          f'{SYSTEM_DIR}, read when no --data_dir is given) or copy that folder\'s ot.bzs, '
          'ot.bzz, nt.bzs and nt.bzz into --data_dir.')


def candidate_dirs(data_dir: str | None) -> list[str]:
  """Where the files are looked for: under `data_dir` only when one is given."""
  if not data_dir:
    return [SYSTEM_DIR]
  return [os.path.join(data_dir, 'char_lm'), data_dir, os.path.join(data_dir, MODULE_PATH)]


def _paths(directory: str) -> list[str]:
  return [os.path.join(directory, t + suffix) for t in TESTAMENTS for suffix in ('.bzs', '.bzz')]


def find_module_dir(data_dir: str | None) -> str:
  """The first candidate folder that holds all four zText files."""
  searched = candidate_dirs(data_dir)
  for directory in searched:
    if all(os.path.isfile(path) for path in _paths(directory)):
      return directory
  raise DatasetUnavailableError(
      f'World English Bible zText files ({", ".join(os.path.basename(p) for p in _paths(""))}) '
      f'not found in any of {searched}'
      f'{" (the given --data_dir; no other place is read)" if data_dir else ""}. '
      f'{how_to_get()}')


def read_blocks(index_path: str, data_path: str) -> list[bytes]:
  """The decompressed blocks of one testament, in order."""
  with open(index_path, 'rb') as f:
    index = f.read()
  with open(data_path, 'rb') as f:
    data = f.read()
  if len(index) % _INDEX_ENTRY.size:
    raise DatasetUnavailableError(
        f'Corrupt zText index {index_path}: {len(index)} bytes is not a multiple of '
        f'{_INDEX_ENTRY.size}. {how_to_get()}')
  blocks = []
  for offset, size, expected in _INDEX_ENTRY.iter_unpack(index):
    try:
      block = zlib.decompress(data[offset:offset + size])
    except zlib.error as e:
      raise DatasetUnavailableError(
          f'Corrupt zText block at byte {offset} of {data_path}: {e}. {how_to_get()}') from e
    if len(block) != expected:
      raise DatasetUnavailableError(
          f'Corrupt zText block at byte {offset} of {data_path}: {len(block)} bytes, index '
          f'{index_path} says {expected}. {how_to_get()}')
    blocks.append(block)
  return blocks


def write_blocks(directory: str, testament: str, blocks: list[bytes]) -> None:
  """Write `blocks` as one testament of a zText module (small test data, copies)."""
  os.makedirs(directory, exist_ok=True)
  index, data = [], []
  offset = 0
  for block in blocks:
    compressed = zlib.compress(block)
    index.append(_INDEX_ENTRY.pack(offset, len(compressed), len(block)))
    data.append(compressed)
    offset += len(compressed)
  with open(os.path.join(directory, testament + '.bzs'), 'wb') as f:
    f.write(b''.join(index))
  with open(os.path.join(directory, testament + '.bzz'), 'wb') as f:
    f.write(b''.join(data))


def osis_to_text(markup: str) -> str:
  """Plain prose from OSIS XML: footnotes dropped, tags removed, whitespace collapsed."""
  text = _TAG.sub('', _NOTE.sub(' ', markup))
  text = _SPACE.sub(' ', html.unescape(text)).strip()
  return _SPACE_BEFORE_CLOSING.sub(r'\1', text)


def read_text(data_dir: str | None) -> str:
  """The whole corpus as one string (Old Testament, then New)."""
  return read_module(find_module_dir(data_dir))


def read_module(directory: str) -> str:
  """`read_text` of the folder `find_module_dir` returned."""
  parts = []
  for testament in TESTAMENTS:
    blocks = read_blocks(os.path.join(directory, testament + '.bzs'),
                         os.path.join(directory, testament + '.bzz'))
    try:
      parts.append(b' '.join(blocks).decode('utf-8'))  # Blocks are books: keep a gap.
    except UnicodeDecodeError as e:
      raise DatasetUnavailableError(
          f'Corrupt zText module in {directory} ({testament}): not UTF-8 ({e}). '
          f'{how_to_get()}') from e
  return osis_to_text(' '.join(parts))


# --- bytes, splits and windows -----------------------------------------------------------


def encode(text: str) -> np.ndarray:
  """int32 token ids: the UTF-8 bytes of `text`."""
  return np.frombuffer(text.encode('utf-8'), np.uint8).astype(np.int32)


def decode(tokens) -> str:
  """Text from token ids; a multi-byte character cut at a window edge shows as U+FFFD."""
  return bytes(np.asarray(tokens, np.uint8)).decode('utf-8', errors='replace')


def split_tokens(tokens: np.ndarray, fractions=SPLIT_FRACTIONS) -> dict[str, np.ndarray]:
  """Contiguous train / validation / test stretches of the stream, in that order."""
  n = len(tokens)
  train_end = int(n * fractions[0])
  validation_end = train_end + int(n * fractions[1])
  return {'train': tokens[:train_end], 'validation': tokens[train_end:validation_end],
          'test': tokens[validation_end:]}


def windows(tokens: np.ndarray, length: int = SEQUENCE_LENGTH) -> Arrays:
  """Non-overlapping windows: `inputs` is tokens [i*L, (i+1)*L), `targets` the next ones."""
  count = (len(tokens) - 1) // length
  if count < 1:
    raise DatasetUnavailableError(
        f'Text of {len(tokens)} bytes is too short for one window of {length + 1}.')
  return {'inputs': tokens[:count * length].reshape(count, length),
          'targets': tokens[1:count * length + 1].reshape(count, length)}


def spread_subset(arrays: Arrays, num: int) -> Arrays:
  """`num` windows evenly spaced over the split (all when it has fewer), so a small eval
  set samples every part of the split instead of its first pages."""
  total = len(arrays['targets'])
  step = max(total // num, 1)
  return {k: v[::step][:num] for k, v in arrays.items()}


def load_splits(data_dir: str | None, num_eval_train: int, num_validation: int,
                num_test: int, length: int = SEQUENCE_LENGTH
                ) -> tuple[dict[str, Arrays], str]:
  """Windows of every split (eval_train, validation and test are evenly spaced subsets),
  and the folder the module was read from."""
  directory = find_module_dir(data_dir)
  tokens = split_tokens(encode(read_module(directory)))
  parts = {name: windows(values, length) for name, values in tokens.items()}
  return ({'train': parts['train'],
           'eval_train': spread_subset(parts['train'], num_eval_train),
           'validation': spread_subset(parts['validation'], num_validation),
           'test': spread_subset(parts['test'], num_test)}, directory)
