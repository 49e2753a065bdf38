"""The registry: names, variants, clear errors, lazy imports."""

import subprocess
import sys

import pytest

from workloads import registry


def test_names_include_algoperf_and_offline_workloads_with_variants():
  names = registry.workload_names()
  assert {'mnist', 'cifar', 'mnist1d', 'fashion_mnist'} <= set(names)
  assert names == sorted(names)
  variants = [n for n in names if registry.is_variant(n)]
  assert {registry.base_workload_name(v) for v in variants} >= {'mnist1d', 'fashion_mnist'}


def test_variant_maps_to_base_and_has_its_own_class():
  assert registry.base_workload_name('mnist1d_gelu') == 'mnist1d'
  assert registry.base_workload_name('fashion_mnist_tanh') == 'fashion_mnist'
  assert registry.base_workload_name('mnist') == 'mnist'
  assert not registry.is_variant('cifar')
  variant, base = registry.get_workload('mnist1d_gelu'), registry.get_workload('mnist1d')
  assert isinstance(variant, type(base)) and type(variant) is not type(base)
  assert variant._model.activation != base._model.activation


def test_unknown_name_lists_valid_names():
  for call in (registry.get_workload, registry.base_workload_name, registry.is_variant):
    with pytest.raises(ValueError, match='Unknown workload .imagenet.*mnist1d'):
      call('imagenet')


def test_get_workload_returns_fresh_objects():
  assert registry.get_workload('mnist1d') is not registry.get_workload('mnist1d')


def test_offline_workloads_do_not_import_tfds():
  code = ('import sys; from workloads import registry; '
          'registry.get_workload("mnist1d"); registry.get_workload("fashion_mnist"); '
          'print("tensorflow_datasets" in sys.modules, "workloads.cifar.workload" in sys.modules)')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       check=True)
  assert out.stdout.split() == ['False', 'False']
