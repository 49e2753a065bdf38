"""Read a prepared TFDS split into host memory, without TensorFlow, failing fast offline.

Datasets must already be prepared in the `array_record` format under `data_dir`
(`<data_dir>/<name>/<version>/`); `tfds.data_source` then reads them with no TensorFlow.
Nothing here downloads: a missing dataset raises `DatasetUnavailableError` at once, with
the command that prepares it (see `workloads/download.py`).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds

from algoperf.data.errors import DatasetUnavailableError

_READ_CHUNK = 4096


def default_data_dir() -> str:
  return os.fspath(tfds.core.constants.DATA_DIR)


def open_builder(name: str, data_dir: str | None,
                 workload_name: str) -> tfds.core.DatasetBuilder:
  """The builder of a prepared array_record dataset, or DatasetUnavailableError.

  `workload_name` goes into the suggested `python -m workloads.download` command.
  """
  builder = tfds.builder(name, data_dir=data_dir or None)  # On-disk format: from its info.
  command = (f'python -m workloads.download {workload_name} '
             f'--data_dir {data_dir or default_data_dir()}')
  how = (f'Prepare it (needs internet and TensorFlow: pip install "algoperf[tf]") with\n'
         f'  {command}\n'
         f'or copy a prepared {builder.data_path.parent.name}/ folder there.')
  if not builder.is_prepared():
    raise DatasetUnavailableError(
        f'TFDS dataset {name!r} is not prepared at {builder.data_path}. {how}')
  if builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
    raise DatasetUnavailableError(
        f'TFDS dataset {name!r} at {builder.data_path} is stored as '
        f'{builder.info.file_format.value}; reading without TensorFlow needs array_record. '
        f'{how}')
  return builder


def load_split(builder: tfds.core.DatasetBuilder, split: str,
               keys: dict[str, str]) -> dict[str, np.ndarray]:
  """All examples of `split` as stacked arrays, renamed by `keys` {tfds_key: our_key}."""
  source = builder.as_data_source(split=split)
  if not len(source):
    raise DatasetUnavailableError(f'Split {split!r} of {builder.data_path} is empty.')
  columns: dict[str, list[np.ndarray]] = {ours: [] for ours in keys.values()}
  for start in range(0, len(source), _READ_CHUNK):
    examples = source.__getitems__(range(start, min(start + _READ_CHUNK, len(source))))
    for theirs, ours in keys.items():
      columns[ours].append(np.stack([example[theirs] for example in examples]))
  return {k: np.concatenate(v) for k, v in columns.items()}
