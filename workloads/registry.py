"""Workload names → workload classes, imported lazily.

Importing a workload module can be expensive (TFDS for mnist/cifar, matplotlib through
mnist1d), so the table holds "module:Class" strings and nothing is imported until
`get_workload` asks for that name. A variant is a small change of a base workload
(activation, width) with its own target; `base_workload_name` maps it back.
"""

from __future__ import annotations

import importlib

from algoperf import spec

# name: ("module:Class", base workload name, or None for a base workload)
_WORKLOADS: dict[str, tuple[str, str | None]] = {
    'mnist': ('workloads.mnist.workload:MnistWorkload', None),
    'cifar': ('workloads.cifar.workload:CifarWorkload', None),
    'mnist1d': ('workloads.mnist1d.workload:Mnist1dWorkload', None),
    'mnist1d_gelu': ('workloads.mnist1d.workload:Mnist1dGeluWorkload', 'mnist1d'),
    'fashion_mnist': ('workloads.fashion_mnist.workload:FashionMnistWorkload', None),
    'fashion_mnist_tanh': ('workloads.fashion_mnist.workload:FashionMnistTanhWorkload',
                           'fashion_mnist'),
    'mnist1d_cnn': ('workloads.mnist1d_cnn.workload:Mnist1dCnnWorkload', None),
    'mnist1d_cnn_batchnorm': ('workloads.mnist1d_cnn.workload:Mnist1dCnnBatchNormWorkload',
                              'mnist1d_cnn'),
    'fashion_mnist_cnn': ('workloads.fashion_mnist_cnn.workload:FashionMnistCnnWorkload', None),
    'fashion_mnist_cnn_tanh': (
        'workloads.fashion_mnist_cnn.workload:FashionMnistCnnTanhWorkload', 'fashion_mnist_cnn'),
    'noisy_quadratic': ('workloads.noisy_quadratic.workload:NoisyQuadraticWorkload', None),
    'noisy_quadratic_illcond': (
        'workloads.noisy_quadratic.workload:NoisyQuadraticIllCondWorkload', 'noisy_quadratic'),
    'char_lm': ('workloads.char_lm.workload:CharLmWorkload', None),
    'char_lm_postnorm': ('workloads.char_lm.workload:CharLmPostNormWorkload', 'char_lm'),
}


def workload_names() -> list[str]:
  """Every registered name, bases and variants, sorted."""
  return sorted(_WORKLOADS)


def _entry(name: str) -> tuple[str, str | None]:
  if name not in _WORKLOADS:
    raise ValueError(
        f'Unknown workload {name!r}. Valid workloads: {", ".join(workload_names())}.')
  return _WORKLOADS[name]


def workload_class(name: str) -> type[spec.Workload]:
  """The class of workload `name`: calling it makes a workload object. Picklable by
  reference, so a trial process can make its own (`algoperf.isolation`)."""
  module_name, class_name = _entry(name)[0].split(':')
  return getattr(importlib.import_module(module_name), class_name)


def get_workload(name: str) -> spec.Workload:
  """A new workload object for `name` (its data loads on first use, not here)."""
  return workload_class(name)()


def base_workload_name(name: str) -> str:
  """The base workload of a variant; a base workload's own name."""
  return _entry(name)[1] or name


def is_variant(name: str) -> bool:
  return _entry(name)[1] is not None
