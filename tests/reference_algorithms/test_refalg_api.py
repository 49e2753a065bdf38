"""Every reference algorithm and the template follow the AlgoPerf submission contract."""

import glob
import inspect
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import importlib.util  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402
import refalg_testlib as lib  # noqa: E402

from algoperf import spec, tuning  # noqa: E402

API = ('init_optimizer_state', 'update_params', 'prepare_for_eval', 'data_selection',
       'get_batch_size')
NAMES = sorted(
    os.path.basename(os.path.dirname(path))
    for path in glob.glob(os.path.join(lib.REFERENCE_DIR, '*', 'submission.py')))
SPACES = sorted(glob.glob(os.path.join(lib.REFERENCE_DIR, '*', 'tuning_search_space*.json')))
TEMPLATE_DIR = os.path.join(lib.REPO_ROOT, 'submissions', 'template')


def _load_template():
  path = os.path.join(TEMPLATE_DIR, 'submission.py')
  module_spec = importlib.util.spec_from_file_location('template_submission', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


def _params(fn):
  return list(inspect.signature(fn).parameters)


def test_collection_is_complete():
  assert NAMES == sorted([
      'adafactor', 'adam', 'adamw', 'fge', 'freezeout', 'lamb', 'momentum', 'nadam', 'nadamw',
      'nadamw_self_tuning', 'nesterov', 'rmsprop', 'sam', 'schedule_free_adamw',
      'schedule_free_adamw_self_tuning', 'sgd', 'shampoo', 'snapshot_ensemble', 'swa'])
  external = [n for n in NAMES if not n.endswith('_self_tuning')]
  assert sorted(os.path.basename(os.path.dirname(p)) for p in SPACES
                if p.endswith('tuning_search_space.json')) == external


@pytest.mark.parametrize('name', NAMES)
def test_functions_have_the_spec_signatures(name):
  module = lib.load(name)
  for fn_name in API:
    assert _params(getattr(module, fn_name)) == _params(getattr(spec, fn_name)), fn_name


def test_template_has_the_spec_signatures_and_documents_each_function():
  module = _load_template()
  for fn_name in API:
    fn = getattr(module, fn_name)
    assert _params(fn) == _params(getattr(spec, fn_name)), fn_name
    assert len(inspect.getdoc(fn)) > 80, fn_name


def test_template_raises_where_the_user_must_fill_in():
  module = _load_template()
  workload = lib.ToyRegressionWorkload()
  with pytest.raises(NotImplementedError):
    module.get_batch_size('mnist')
  with pytest.raises(NotImplementedError):
    module.init_optimizer_state(workload, {}, None, None, None)
  with pytest.raises(NotImplementedError):
    module.update_params(workload, {}, {}, None, None, {}, workload.loss_type, None, [], 0,
                         None)
  queue = iter([{'inputs': 1}, {'inputs': 2}])
  assert module.data_selection(workload, queue, None, {}, None, None, 0, None) == {'inputs': 1}
  assert module.prepare_for_eval(workload, {'w': 1}, {}, 'ms', None, workload.loss_type,
                                 'opt', [], 0, None) == ('opt', {'w': 1}, 'ms')
  assert isinstance(tuning.load_search_space(
      os.path.join(TEMPLATE_DIR, 'tuning_search_space.json')), tuning.QuasirandomSpace)


def _a_point(space):
  """One concrete point: the geometric/arithmetic middle of ranges, first feasible point."""
  if isinstance(space, tuning.FixedSpace):
    return dict(zip(space.names, space.points[0], strict=True))
  point = {}
  for name, dim in zip(space.names, space.dims, strict=True):
    if isinstance(dim, tuning.Choice):
      point[name] = dim.points[0]
    elif dim.scaling == 'log':
      point[name] = math.sqrt(dim.low * dim.high)
    else:
      point[name] = (dim.low + dim.high) / 2
  return point


@pytest.mark.parametrize('path', SPACES, ids=lambda p: os.path.relpath(p, lib.REFERENCE_DIR))
def test_search_space_loads_and_drives_its_submission(path):
  space = tuning.load_search_space(path)
  point = _a_point(space)
  module = lib.load(os.path.basename(os.path.dirname(path)))
  workload = lib.ToyRegressionWorkload(step_hint=20)
  _, params, model_state = lib.run_trial(module, workload, lib.hparams(**point), num_steps=3)
  loss = lib.validation_loss(workload, params, model_state)
  assert math.isfinite(loss)
  assert all(bool(jax.numpy.all(jax.numpy.isfinite(x))) for x in jax.tree.leaves(params))
