"""The submission's workload view and train-only logger (algoperf/workload_view.py).

A submission must get the public model API and constants, never evaluation, held-out data
or a way to write the runner's columns; and every shipped submission must still train
through the view.
"""

import copy
import csv
import glob
import inspect
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                'reference_algorithms'))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import refalg_testlib as lib  # noqa: E402
from toy_workload import ToyRegressionWorkload  # noqa: E402

from algoperf import logs, spec, submission, tuning  # noqa: E402
from algoperf import workload_view as wv  # noqa: E402

V06 = os.path.join(lib.REPO_ROOT, 'tests', 'submissions', 'algoperf_v06_style.py')
V06_HPARAMS = {'learning_rate': 0.01, 'one_minus_beta1': 0.1, 'beta2': 0.999,
               'warmup_factor': 0.05, 'weight_decay': 0.0, 'label_smoothing': 0.0,
               'dropout_rate': 0.0}
REFERENCE = sorted(glob.glob(os.path.join(lib.REFERENCE_DIR, '*', 'submission.py')))
HELD_OUT = 'not available to submissions: held-out data / evaluation belongs to the runner'
CONSTANTS = ('target_metric_name', 'validation_target_value', 'test_target_value',
             'max_allowed_runtime_sec', 'eval_period_time_sec', 'step_hint', 'loss_type',
             'num_train_examples', 'num_eval_train_examples', 'num_validation_examples',
             'num_test_examples', 'eval_batch_size', 'default_batch_size', 'train_mean',
             'train_stddev')


def _pair(make, rng=0, dropout_rate=None):
  """(runner's instance with params, submission's view) as the runner will set them up."""
  runner_wl, sub_wl = make(), make()
  key = jax.random.key(rng)
  params, model_state = runner_wl.init_model_fn(key, dropout_rate)
  wv.init_submission_model(runner_wl, sub_wl, key, dropout_rate)
  return runner_wl, wv.SubmissionWorkload(sub_wl, None), params, model_state


@pytest.fixture(scope='module')
def mnist1d():
  from workloads import registry
  return _pair(lambda: registry.get_workload('mnist1d'))


def _classification_batch(n=8, seed=0):
  rng = np.random.default_rng(seed)
  return {'inputs': rng.normal(size=(n, 40)).astype(np.float32),
          'targets': rng.integers(0, 10, size=n).astype(np.int32),
          'weights': np.ones(n, np.float32)}


def _toy_batch(n=8):
  return {'inputs': np.linspace(-1, 1, n * 8, dtype=np.float32).reshape(n, 8),
          'targets': np.ones((n, 1), np.float32)}


def _forward(workload, params, model_state, batch):
  @jax.jit
  def f(params, batch):
    logits, _ = workload.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL,
                                  None, update_batch_norm=False)
    return logits, workload.loss_fn(batch['targets'], logits, batch.get('weights'))['summed']
  return f(params, batch)


# --- the public API ---------------------------------------------------------------------


@pytest.mark.parametrize('which', ['toy', 'mnist1d'])
def test_public_api_matches_the_underlying_workload(which, request):
  if which == 'toy':
    runner_wl, view, params, model_state = _pair(ToyRegressionWorkload)
    batch = _toy_batch()
  else:
    runner_wl, view, params, model_state = request.getfixturevalue('mnist1d')
    batch = _classification_batch()
    assert (view.num_classes, view.input_shape, view.activation) == (10, (40,), 'relu')
  for (a, b) in zip(_forward(view, params, model_state, batch),
                    _forward(runner_wl, params, model_state, batch), strict=True):
    np.testing.assert_array_equal(a, b)
  logits = _forward(view, params, model_state, batch)[0]
  np.testing.assert_array_equal(view.output_activation_fn(logits),
                                runner_wl.output_activation_fn(logits))
  for name in CONSTANTS:
    assert np.array_equal(getattr(view, name), getattr(runner_wl, name)), name
  assert view.param_shapes == runner_wl.param_shapes
  assert view.model_params_types == runner_wl.model_params_types
  assert [k for k in view.param_shapes if view.is_output_params(k)] == \
      [k for k in runner_wl.param_shapes if runner_wl.is_output_params(k)]


def test_methods_are_plain_functions_with_the_methods_signatures():
  runner_wl, view, params, _ = _pair(ToyRegressionWorkload)
  for name in ('model_fn', 'loss_fn', 'init_model_fn', 'output_activation_fn'):
    fn = getattr(view, name)
    assert not hasattr(fn, '__self__') and not hasattr(fn, '__wrapped__'), name
    assert inspect.signature(fn) == inspect.signature(getattr(runner_wl, name)), name
    assert getattr(view, name) is fn, name  # Built once: stable identity for jit caches.
  # static_argnames resolve through the signature.
  f = jax.jit(view.model_fn, static_argnames=('mode', 'update_batch_norm'))
  logits, _ = f(params, _toy_batch(), None, mode=spec.ForwardPassMode.EVAL, rng=None,
                update_batch_norm=False)
  assert logits.shape == (8, 1)


def test_isinstance_repr_and_dir():
  _, view, _, _ = _pair(ToyRegressionWorkload)
  assert isinstance(view, spec.Workload)
  assert type(view).__name__ == 'SubmissionWorkload'
  assert repr(view) == '<SubmissionWorkload of ToyRegressionWorkload>'
  names = dir(view)
  assert {'model_fn', 'loss_fn', 'param_shapes', 'metrics_logger', 'step_hint'} <= set(names)
  assert not [n for n in names if n.startswith('_') or n in wv.BLOCKED_ATTRIBUTES]
  assert hash(view) == hash(view)  # AlgoPerf-style submissions jit with it as a static arg.
  with pytest.raises(TypeError, match='cannot be copied'):
    copy.copy(view)


# --- param shapes and types: the runner's helper ------------------------------------------


def test_param_shapes_need_the_helper_then_match_the_runners():
  runner_wl, sub_wl = ToyRegressionWorkload(), ToyRegressionWorkload()
  view = wv.SubmissionWorkload(sub_wl, None)
  runner_wl.init_model_fn(jax.random.key(0))
  with pytest.raises(ValueError, match='init_model_fn'):
    view.param_shapes  # noqa: B018
  wv.init_submission_model(runner_wl, view, jax.random.key(0))  # the view or its instance
  assert view.param_shapes == runner_wl.param_shapes
  assert view.model_params_types == runner_wl.model_params_types


def test_helper_refuses_the_runners_own_instance_and_a_differently_built_one():
  runner_wl = ToyRegressionWorkload()
  runner_wl.init_model_fn(jax.random.key(0))
  with pytest.raises(ValueError, match='its own workload instance'):
    wv.init_submission_model(runner_wl, runner_wl, jax.random.key(0))
  with pytest.raises(ValueError, match=r"\['step_hint'\]"):
    wv.init_submission_model(runner_wl, ToyRegressionWorkload(step_hint=20), jax.random.key(0))


class _DropoutToy(ToyRegressionWorkload):
  """Keeps init's dropout rate on the instance for model_fn, as char_lm does."""

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    self._dropout_rate = dropout_rate
    return super().init_model_fn(rng, dropout_rate, aux_dropout_rate)


def test_helper_runs_init_so_state_that_init_sets_matches_too():
  runner_wl, view, _, _ = _pair(_DropoutToy, dropout_rate=0.25)
  assert object.__getattribute__(view, '_workload')._dropout_rate == 0.25
  assert runner_wl._dropout_rate == 0.25


# --- what is blocked ----------------------------------------------------------------------


@pytest.mark.parametrize('name', ['eval_model', '_eval_model_on_split', '_build_input_queue',
                                  'splits', 'load_splits', '_splits', '_param_shapes',
                                  'attach_metrics_logger', 'set_param_shapes_and_types'])
def test_blocked_attributes_raise_a_clear_error(name):
  _, view, _, _ = _pair(ToyRegressionWorkload)
  with pytest.raises(AttributeError, match=f'workload.{name} is {HELD_OUT}'):
    getattr(view, name)
  assert not hasattr(view, name)
  assert getattr(view, name, 'default') == 'default'


@pytest.mark.parametrize('name', ['splits', 'load_splits', 'eval_model', '_model',
                                  '_eval_step', '_splits'])
def test_a_real_workloads_data_and_eval_are_blocked(mnist1d, name):
  view = mnist1d[1]
  with pytest.raises(AttributeError, match=HELD_OUT):
    getattr(view, name)


class _LeakyToy(ToyRegressionWorkload):
  """Public attributes whose values hold held-out data, next to a harmless public array."""

  feature_scale = np.ones(8, np.float32)
  notes = {'test': 'the test split is held out'}  # A 'test' key without data is fine.

  @property
  def validation_inputs(self):
    return self._splits['validation']['inputs']

  @property
  def some_test_rows(self):
    return self._splits['test']['targets'][:10]

  @property
  def eval_iterator(self):
    return iter([self._splits['validation']])

  @property
  def all_data(self):
    return self._splits


@pytest.mark.parametrize('name', ['validation_inputs', 'some_test_rows', 'eval_iterator',
                                  'all_data'])
def test_public_attributes_holding_held_out_data_are_blocked(name):
  _, view, _, _ = _pair(_LeakyToy)
  with pytest.raises(AttributeError, match=f'workload.{name} is {HELD_OUT}'):
    getattr(view, name)
  np.testing.assert_array_equal(view.feature_scale, np.ones(8))
  assert view.notes == _LeakyToy.notes


def test_an_unknown_attribute_is_a_plain_attribute_error():
  _, view, _, _ = _pair(ToyRegressionWorkload)
  with pytest.raises(AttributeError) as info:
    view.no_such_thing  # noqa: B018
  assert 'not available to submissions' not in str(info.value)


# --- writes -------------------------------------------------------------------------------


def test_writes_stay_in_the_view():
  runner_wl, view, _, _ = _pair(ToyRegressionWorkload)
  sub_wl = object.__getattribute__(view, '_workload')
  runner_eval, runner_logger = runner_wl.eval_model, object()
  runner_wl.attach_metrics_logger(runner_logger)
  view.step_hint = 5
  view.eval_model = lambda *a, **k: {'validation/loss': 0.0}
  view.metrics_logger = 'mine'
  view._cache = {'compiled': 1}  # AlgoPerf code sometimes caches on the workload.
  assert (view.step_hint, view.metrics_logger, view._cache) == (5, 'mine', {'compiled': 1})
  assert view.eval_model(0) == {'validation/loss': 0.0}
  for wl in (runner_wl, sub_wl):
    assert wl.step_hint == 200 and not hasattr(wl, '_cache')
  assert runner_wl.eval_model == runner_eval and runner_wl.metrics_logger is runner_logger
  assert sub_wl.metrics_logger is None
  del view.step_hint, view.eval_model
  assert view.step_hint == 200
  with pytest.raises(AttributeError, match=HELD_OUT):
    view.eval_model  # noqa: B018
  with pytest.raises(AttributeError, match='not set by the submission'):
    del view.step_hint
  with pytest.raises(TypeError, match='not another view'):
    wv.SubmissionWorkload(view, None)


# --- the train-only metrics logger ----------------------------------------------------------


def _csv(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


@pytest.fixture
def logged(tmp_path):
  """A runner-side MetricsLogger with one eval row already written, and the view's logger."""
  runner_logger = logs.MetricsLogger(str(tmp_path))
  runner_logger.append_scalar_metrics({'validation/loss': 0.5, 'score': 1.0}, 0, 1,
                                      is_eval=True)
  eval_path = tmp_path / logs.EVAL_MEASUREMENTS
  sub_logger = wv.SubmissionMetricsLogger(runner_logger, preemption_count=1)
  view = wv.SubmissionWorkload(ToyRegressionWorkload(), sub_logger)
  return view, sub_logger, tmp_path / logs.MEASUREMENTS, eval_path, eval_path.read_bytes()


def test_logger_writes_train_metrics_with_the_runners_preemption_count(logged):
  view, sub_logger, path, eval_path, eval_before = logged
  assert view.metrics_logger is sub_logger
  view.metrics_logger.append_scalar_metrics(
      {'loss': 0.25, 'grad_norm': jnp.float32(2.0), 'train_loss': 0.3, 'learning_rate': 0.1},
      3, preemption_count=99)
  sub_logger.set_preemption_count(2)
  view.metrics_logger.append_scalar_metrics({'loss': 0.125}, jnp.int32(4))
  view.metrics_logger.finish()
  rows = _csv(path)
  assert [(r['global_step'], r['preemption_count'], r['loss']) for r in rows] == [
      ('0', '1', ''), ('3', '1', '0.25'), ('4', '2', '0.125')]
  assert (rows[1]['grad_norm'], rows[1]['train_loss'], rows[1]['learning_rate']) == \
      ('2.0', '0.3', '0.1')
  assert eval_path.read_bytes() == eval_before


@pytest.mark.parametrize('name', sorted(logs.LEADING_COLUMNS) + [
    'train/loss', 'validation/accuracy', 'test/loss', 'validation/num_examples'])
def test_logger_refuses_the_runners_columns(logged, name):
  view, _, path, eval_path, eval_before = logged
  before = path.read_bytes()
  with pytest.raises(ValueError, match=f"'{name}'"):
    view.metrics_logger.append_scalar_metrics({'loss': 0.1, name: 1.0}, 5)
  assert path.read_bytes() == before and eval_path.read_bytes() == eval_before


@pytest.mark.parametrize('call, message', [
    (lambda m: m.append_scalar_metrics({'loss': 0.1}, 5, is_eval=True), 'eval rows'),
    (lambda m: m.append_scalar_metrics({'loss': 0.1}, 5, None, True), 'eval rows'),
    (lambda m: m.append_scalar_metrics({'loss': np.ones(3)}, 5), 'not a scalar'),
    (lambda m: m.append_scalar_metrics({1: 0.1}, 5), 'must be strings'),
    (lambda m: m.append_scalar_metrics([('loss', 0.1)], 5), 'mapping'),
    (lambda m: m.append_scalar_metrics({'loss': 0.1}, 5.5), 'non-negative integer'),
    (lambda m: m.append_scalar_metrics({'loss': 0.1}, -1), 'non-negative integer'),
])
def test_logger_refuses_eval_rows_and_malformed_rows(logged, call, message):
  view, _, path, eval_path, eval_before = logged
  before = path.read_bytes()
  with pytest.raises(ValueError, match=message):
    call(view.metrics_logger)
  assert path.read_bytes() == before and eval_path.read_bytes() == eval_before


def test_reserved_names_come_from_the_log_layout_and_no_log_dir_means_no_logger():
  assert wv.RESERVED_METRIC_NAMES == frozenset(logs.RUNNER_COLUMNS)
  assert wv.RESERVED_METRIC_PREFIXES == ('train/', 'validation/', 'test/', 'last_member/')
  assert wv.reserved_metric_reason('ensemble_members') is not None
  assert wv.reserved_metric_reason('last_member/validation/loss') is not None
  assert wv.reserved_metric_reason('train_loss') is None
  assert wv.SubmissionWorkload(ToyRegressionWorkload(), None).metrics_logger is None


# --- shipped submissions train through the view --------------------------------------------


def _hyperparameters(path):
  if path == V06:
    return tuning.hyperparameters_type(list(V06_HPARAMS))(**V06_HPARAMS)
  fixed = os.path.join(os.path.dirname(path), 'tuning_search_space_fixed.json')
  if not os.path.exists(fixed):
    return None  # self-tuning
  with open(fixed) as f:
    point = json.load(f)[0]
  return tuning.hyperparameters_type(list(point))(**point)


def _train_through_view(path, make, log_dir, batches=None, num_steps=2):
  """The runner's call sequence with the view as `workload`; returns the final params."""
  sub = submission.load_submission(path)
  hp = _hyperparameters(path)
  model_rng, opt_rng, data_rng, step_rng = jax.random.split(jax.random.key(0), 4)
  runner_wl, sub_wl = make(), make()
  params, model_state = runner_wl.init_model_fn(model_rng, getattr(hp, 'dropout_rate', None))
  wv.init_submission_model(runner_wl, sub_wl, model_rng, getattr(hp, 'dropout_rate', None))
  view = wv.SubmissionWorkload(sub_wl, logs.MetricsLogger(str(log_dir)))
  optimizer_state = sub.init_optimizer_state(view, params, model_state, hp, opt_rng)
  queue = batches if batches is not None else runner_wl._build_input_queue(
      data_rng, 'train', None, 32)
  for step in range(num_steps):
    key = jax.random.fold_in(step_rng, step)
    batch = sub.data_selection(view, queue, optimizer_state, params, model_state, hp, step,
                               key)
    optimizer_state, params, model_state = sub.update_params(
        workload=view, current_param_container=params,
        current_params_types=view.model_params_types, model_state=model_state,
        hyperparameters=hp, batch=batch, loss_type=view.loss_type,
        optimizer_state=optimizer_state, eval_results=[], global_step=step, rng=key)
  if sub.prepare_for_eval is not None:
    _, params, _ = sub.prepare_for_eval(
        workload=view, current_param_container=params,
        current_params_types=view.model_params_types, model_state=model_state,
        hyperparameters=hp, loss_type=view.loss_type, optimizer_state=optimizer_state,
        eval_results=[], global_step=num_steps, rng=step_rng)
  return params


def _check_trained_and_logged(params, log_dir):
  assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(params))
  rows = _csv(log_dir / logs.MEASUREMENTS)  # Every submission here logs at step 0.
  assert [(r['global_step'], r['preemption_count']) for r in rows] == [('0', '0')]
  assert float(rows[0]['loss']) > 0 and float(rows[0]['grad_norm']) >= 0
  assert not (log_dir / logs.EVAL_MEASUREMENTS).exists()


@pytest.mark.parametrize('path', [V06] + REFERENCE,
                         ids=lambda p: os.path.basename(os.path.dirname(p))
                         if p != V06 else 'algoperf_v06_style')
def test_submission_trains_on_the_toy_workload_through_the_view(path, tmp_path):
  params = _train_through_view(path, lambda: ToyRegressionWorkload(step_hint=20), tmp_path)
  _check_trained_and_logged(params, tmp_path)


@pytest.mark.parametrize('path', [V06, os.path.join(lib.REFERENCE_DIR, 'nadamw',
                                                    'submission.py')],
                         ids=['algoperf_v06_style', 'nadamw'])
def test_submission_trains_on_mnist1d_through_the_view(path, tmp_path):
  from workloads import registry
  batches = iter([_classification_batch(32, seed) for seed in range(2)])
  params = _train_through_view(path, lambda: registry.get_workload('mnist1d'), tmp_path,
                               batches)
  _check_trained_and_logged(params, tmp_path)
