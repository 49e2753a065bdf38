"""Get a workload's data: `python -m workloads.download {mnist,cifar} --data_dir DIR`.

mnist and cifar are TFDS datasets; their TFDS builders need TensorFlow
(`pip install "algoperf[tf]"`) and internet to download and prepare. They are prepared
in the array_record format, which the workloads then read without TensorFlow. The
equivalent TFDS command is `tfds build mnist:3.0.1 --data_dir DIR --file_format
array_record`. mnist1d is generated and fashion_mnist comes from IDX files; for those this
prints what to do.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

TFDS_DATASETS = {'mnist': 'mnist:3.0.1', 'cifar': 'cifar10:3.0.2'}
NOTHING_TO_DOWNLOAD = {
    'mnist1d': 'mnist1d is generated offline by the mnist1d package: nothing to download.',
    'fashion_mnist': ('fashion_mnist reads IDX files: apt-get install dataset-fashion-mnist, '
                      'or put the four *-ubyte.gz files from '
                      'https://github.com/zalandoresearch/fashion-mnist into --data_dir.'),
}


class MissingTensorFlowError(RuntimeError):
  pass


def prepare_tfds(workload_name: str, data_dir: str | None) -> str:
  """Download and prepare the TFDS dataset of `workload_name`; return where it is."""
  if importlib.util.find_spec('tensorflow') is None:
    raise MissingTensorFlowError(
        f'Preparing {TFDS_DATASETS[workload_name]} runs its TFDS builder, which needs '
        'TensorFlow: pip install "algoperf[tf]" (reading it later does not).')
  import tensorflow_datasets as tfds

  builder = tfds.builder(TFDS_DATASETS[workload_name], data_dir=data_dir,
                         file_format='array_record')
  builder.download_and_prepare()
  return str(builder.data_path)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('workload', choices=sorted([*TFDS_DATASETS, *NOTHING_TO_DOWNLOAD]))
  parser.add_argument('--data_dir', default=None,
                      help='TFDS data dir (default: ~/tensorflow_datasets)')
  args = parser.parse_args(argv)
  name = args.workload
  if name in NOTHING_TO_DOWNLOAD:
    print(NOTHING_TO_DOWNLOAD[name])
    return 0
  try:
    print(f'Prepared {prepare_tfds(name, args.data_dir)}')
  except MissingTensorFlowError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
