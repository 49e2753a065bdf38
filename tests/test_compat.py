"""A submission written for MLCommons AlgoPerf's JAX API (v0.6) runs here unchanged, and
the names it relies on exist with AlgoPerf's members, values and signatures.

The expected tables below are copied from AlgoPerf's `algoperf/spec.py` and
`algoperf/jax_sharding_utils.py` (mlcommons/algorithmic-efficiency), not from this
project's code, so a drift on either side shows up here.
"""

import csv
import inspect
import json
import math
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from algoperf import jax_sharding_utils, logs, runner, spec, submission, tuning

pytestmark = pytest.mark.compat  # CI reruns these in AlgoPerf's pinned set (docs/environments.md).

TESTS_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

V06_SUBMISSION = TESTS_DIR / 'submissions' / 'algoperf_v06_style.py'
# The hyperparameters AlgoPerf's NAdamW baseline search space names, one point of it.
HPARAMS = {'learning_rate': 0.05, 'one_minus_beta1': 0.1, 'beta2': 0.999,
           'warmup_factor': 0.05, 'weight_decay': 0.0, 'label_smoothing': 0.0,
           'dropout_rate': 0.0}
MAX_STEPS = 40
LOGGED_STEPS = ['0', '10', '20', '30']  # The submission logs every 10 steps.


def _hyperparameters():
  return tuning.hyperparameters_type(list(HPARAMS))(**HPARAMS)


def _workload():
  # Unreachable targets and eval period: evals after step 1 and at MAX_STEPS only.
  return toy_workload.ToyRegressionWorkload(validation_target=1e-9, test_target=1e-9,
                                            eval_period_sec=1e9)


def _csv_rows(path) -> list[dict[str, str]]:
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def v06_trial(tmp_path_factory):
  """The v0.6 submission, unchanged, trained on the toy workload through run_trial."""
  sub = submission.load_submission(str(V06_SUBMISSION))
  workload = _workload()
  num_devices = jax.device_count()
  log_dir = tmp_path_factory.mktemp('v06') / 'trial_1'
  config = runner.TrialConfig(
      workload=workload, workload_name='toy', submission=sub,
      hyperparameters=_hyperparameters(), seed=0,
      global_batch_size=submission.resolve_batch_size(
          sub, 'toy', 'toy', workload.default_batch_size, num_devices),
      eval_batch_size=submission.resolve_eval_batch_size(
          sub, 'toy', workload.eval_batch_size, num_devices),
      budget_sec=120.0, log_dir=str(log_dir), max_global_steps=MAX_STEPS,
      save_checkpoints=False, show_progress=False)
  return sub, workload, runner.run_trial(config), log_dir


# --- The submission runs unchanged -------------------------------------------------------


def test_v06_submission_loads_with_its_optional_functions():
  sub = submission.load_submission(str(V06_SUBMISSION))
  assert sub.prepare_for_eval is not None
  assert sub.get_eval_batch_size is None
  assert sub.update_params_accepts_train_state


def test_algoperf_batch_size_list_falls_back_to_workload_default(caplog):
  sub = submission.load_submission(str(V06_SUBMISSION))
  assert sub.get_batch_size('imagenet_resnet') == 1024
  with pytest.raises(ValueError, match='Unsupported workload name: toy'):
    sub.get_batch_size('toy')
  with caplog.at_level('WARNING', logger='algoperf.submission'):
    assert submission.resolve_batch_size(sub, 'toy', 'toy', 32, num_devices=1) == 32
  assert any("does not know 'toy'" in r.getMessage() for r in caplog.records)


def test_v06_submission_trains(v06_trial):
  _, workload, result, _ = v06_trial
  assert result.status == runner.MAX_STEPS
  assert result.global_step == MAX_STEPS
  steps = [step for step, _ in result.eval_results]
  assert steps == [1, MAX_STEPS]
  first, last = (row['validation/loss'] for _, row in result.eval_results)
  assert math.isfinite(last) and last < 0.1 * first, (first, last)
  # The optimizer state is AlgoPerf's (state, update_fn) pair, carried through the run.
  opt_state, update_fn = result.optimizer_state
  assert callable(update_fn)
  assert jax.tree.map(lambda x: x.shape, result.params) == jax.tree.map(
      lambda s: s.shape_tuple, workload.param_shapes)


def test_metrics_logger_rows_land_in_measurements_csv(v06_trial):
  _, _, _, log_dir = v06_trial
  rows = _csv_rows(log_dir / logs.MEASUREMENTS)
  logged = [r for r in rows if r['loss']]
  assert [r['global_step'] for r in logged] == LOGGED_STEPS
  losses = [float(r['loss']) for r in logged]
  assert all(math.isfinite(v) and v >= 0 for v in losses)
  assert losses[-1] < losses[0]
  assert all(float(r['grad_norm']) > 0 for r in logged)
  # The runner's eval rows share the file; the submission's rows do not leak into evals.
  assert [r['global_step'] for r in rows if r['validation/loss']] == ['1', str(MAX_STEPS)]
  eval_rows = _csv_rows(log_dir / logs.EVAL_MEASUREMENTS)
  assert [r['global_step'] for r in eval_rows] == ['1', str(MAX_STEPS)]
  assert not any(r.get('loss') for r in eval_rows)
  summary = json.loads((log_dir / logs.TRIAL_SUMMARY).read_text())
  assert summary['status'] == 'max_global_steps' and summary['global_step'] == MAX_STEPS


_SHARDED_RUN = textwrap.dedent('''
    import dataclasses, json, sys
    import jax
    sys.path.insert(0, {tests_dir!r})
    import test_compat as c
    from algoperf import runner, submission

    sub = submission.load_submission(str(c.V06_SUBMISSION))
    batch_shardings = []

    def data_selection(*args):  # Records what the unchanged submission is handed.
      batch = sub.data_selection(*args)
      batch_shardings.append(batch['inputs'].sharding)
      return batch

    workload = c._workload()
    n = jax.device_count()
    config = runner.TrialConfig(
        workload=workload, workload_name='toy',
        submission=dataclasses.replace(sub, data_selection=data_selection),
        hyperparameters=c._hyperparameters(), seed=0,
        global_batch_size=submission.resolve_batch_size(
            sub, 'toy', 'toy', workload.default_batch_size, n),
        eval_batch_size=submission.resolve_eval_batch_size(
            sub, 'toy', workload.eval_batch_size, n),
        budget_sec=120.0, max_global_steps=c.MAX_STEPS, show_progress=False)
    result = runner.run_trial(config)
    leaves = jax.tree.leaves((result.params, result.optimizer_state[0]))
    print(json.dumps({{
        'device_count': n,
        'batch_devices': sorted({{len(s.device_set) for s in batch_shardings}}),
        'batch_specs': sorted({{str(s.spec) for s in batch_shardings}}),
        'state_devices': sorted({{len(x.sharding.device_set) for x in leaves}}),
        'state_replicated': all(x.sharding.is_fully_replicated for x in leaves),
        'status': result.status,
        'global_step': result.global_step,
        'eval_results': result.eval_results,
    }}))
''')


def test_v06_submission_runs_sharded_on_8_cpu_devices(v06_trial):
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=(
      os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=8').strip())
  proc = subprocess.run(
      [sys.executable, '-c', _SHARDED_RUN.format(tests_dir=str(TESTS_DIR))],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out['device_count'] == 8
  # Every batch arrived split 8 ways along its leading axis; the state stayed replicated.
  assert out['batch_devices'] == [8]
  assert out['batch_specs'] == [str(P('batch'))]
  assert out['state_devices'] == [8] and out['state_replicated']
  assert out['status'] == runner.MAX_STEPS and out['global_step'] == MAX_STEPS
  # Same seed, same data: the 8-device curve is the 1-device curve up to float rounding.
  _, _, one_device, _ = v06_trial
  for (step8, row8), (step1, row1) in zip(out['eval_results'], one_device.eval_results,
                                          strict=True):
    assert step8 == step1
    assert row8['validation/loss'] == pytest.approx(row1['validation/loss'], rel=1e-4)


# --- AlgoPerf's names, members, values and signatures -------------------------------------

ALGOPERF_LOSS_TYPE = {
    'SOFTMAX_CROSS_ENTROPY': 0,
    'SIGMOID_CROSS_ENTROPY': 1,
    'MEAN_SQUARED_ERROR': 2,
    'CTC_LOSS': 3,
    'MEAN_ABSOLUTE_ERROR': 4,
}
ALGOPERF_FORWARD_PASS_MODE = {'TRAIN': 0, 'EVAL': 1}
ALGOPERF_PARAMETER_TYPE = {
    'WEIGHT': 0,
    'BIAS': 1,
    'CONV_WEIGHT': 2,
    'BATCH_NORM_SCALE': 3,
    'BATCH_NORM_BIAS': 4,
    'LAYER_NORM_SCALE': 5,
    'LAYER_NORM_BIAS': 6,
    'EMBEDDING': 7,
    'ATTENTION_Q': 8,
    'ATTENTION_K': 9,
    'ATTENTION_V': 10,
    'ATTENTION_OUT': 11,
    'ATTENTION_QKV': 12,
    'ATTENTION_KV': 13,
    'ATTENTION_BIAS': 14,
}


@pytest.mark.parametrize('enum_type, expected', [
    (spec.LossType, ALGOPERF_LOSS_TYPE),
    (spec.ForwardPassMode, ALGOPERF_FORWARD_PASS_MODE),
    (spec.ParameterType, ALGOPERF_PARAMETER_TYPE),
], ids=['LossType', 'ForwardPassMode', 'ParameterType'])
def test_enums_have_algoperf_members_and_values(enum_type, expected):
  # Same members, same values, same order (no aliases hiding a member).
  assert [(m.name, m.value) for m in enum_type] == list(expected.items())
  assert list(enum_type.__members__) == list(expected)


ALGOPERF_TYPE_ALIASES = (
    'Tensor', 'Shape', 'ParameterShapeTree', 'ParameterKey', 'ParameterContainer',
    'ParameterTypeTree', 'RandomState', 'OptimizerState', 'Hyperparameters', 'Timing',
    'Steps', 'ModelAuxiliaryState', 'ModelInitState', 'UpdateReturn', 'InitOptimizerFn',
    'UpdateParamsFn', 'PrepareForEvalFn', 'DataSelectionFn')


@pytest.mark.parametrize('name', ALGOPERF_TYPE_ALIASES)
def test_spec_type_alias_exists(name):
  assert getattr(spec, name, None) is not None, f'spec.{name} is missing'


def test_training_complete_error_and_shape_tuple():
  assert issubclass(spec.TrainingCompleteError, Exception)
  with pytest.raises(spec.TrainingCompleteError):
    raise spec.TrainingCompleteError()
  shape = spec.ShapeTuple((8, 1))
  assert shape.shape_tuple == (8, 1)
  assert shape == spec.ShapeTuple((8, 1)) and shape != spec.ShapeTuple((1, 8))
  assert repr(shape) == 'ShapeTuple((8, 1))'
  # A leaf to tree utilities, which is why AlgoPerf wraps shapes in it.
  assert jax.tree.leaves({'a': {'b': shape}}) == [shape]


def test_workload_param_shapes_are_shape_tuples():
  workload = _workload()
  params, _ = workload.init_model_fn(jax.random.PRNGKey(0))
  shapes = workload.param_shapes
  assert jax.tree.structure(shapes) == jax.tree.structure(params)
  for shape, param in zip(jax.tree.leaves(shapes), jax.tree.leaves(params), strict=True):
    assert isinstance(shape, spec.ShapeTuple) and shape.shape_tuple == param.shape
  assert jax.tree.structure(workload.model_params_types) == jax.tree.structure(params)
  assert all(isinstance(t, spec.ParameterType)
             for t in jax.tree.leaves(workload.model_params_types))


# Parameter names in AlgoPerf's spec.py; submissions and the runner pass them by name.
ALGOPERF_SIGNATURES = {
    'init_optimizer_state': [
        'workload', 'model_params', 'model_state', 'hyperparameters', 'rng'],
    'update_params': [
        'workload', 'current_param_container', 'current_params_types', 'model_state',
        'hyperparameters', 'batch', 'loss_type', 'optimizer_state', 'eval_results',
        'global_step', 'rng', 'train_state'],
    'prepare_for_eval': [
        'workload', 'current_param_container', 'current_params_types', 'model_state',
        'hyperparameters', 'loss_type', 'optimizer_state', 'eval_results', 'global_step',
        'rng'],
    'data_selection': [
        'workload', 'input_queue', 'optimizer_state', 'current_param_container',
        'model_state', 'hyperparameters', 'global_step', 'rng'],
    'get_batch_size': ['workload_name'],
}
ALGOPERF_WORKLOAD_SIGNATURES = {
    'model_fn': ['self', 'params', 'augmented_and_preprocessed_input_batch', 'model_state',
                 'mode', 'rng', 'update_batch_norm', 'dropout_rate'],
    'loss_fn': ['self', 'label_batch', 'logits_batch', 'mask_batch', 'label_smoothing'],
    'eval_model': ['self', 'global_batch_size', 'params', 'model_state', 'rng', 'data_dir',
                   'imagenet_v2_data_dir', 'global_step'],
    '_eval_model_on_split': ['self', 'split', 'num_examples', 'global_batch_size', 'params',
                             'model_state', 'rng', 'data_dir', 'global_step'],
    '_build_input_queue': ['self', 'data_rng', 'split', 'data_dir', 'global_batch_size',
                           'cache', 'repeat_final_dataset', 'num_batches'],
    'output_activation_fn': ['self', 'logits_batch', 'framework'],
    'attach_metrics_logger': ['self', 'metrics_logger'],
    'is_output_params': ['self', 'param_key'],
    'has_reached_validation_target': ['self', 'eval_result'],
    'has_reached_test_target': ['self', 'eval_result'],
}
ALGOPERF_WORKLOAD_PROPERTIES = (
    'target_metric_name', 'validation_target_value', 'test_target_value', 'loss_type',
    'num_train_examples', 'eval_batch_size', 'num_eval_train_examples',
    'num_validation_examples', 'num_test_examples', 'train_mean', 'train_stddev',
    'max_allowed_runtime_sec', 'eval_period_time_sec', 'step_hint', 'param_shapes',
    'model_params_types')


@pytest.mark.parametrize('name', sorted(ALGOPERF_SIGNATURES))
def test_submission_function_signatures_match_algoperf(name):
  assert list(inspect.signature(getattr(spec, name)).parameters) == ALGOPERF_SIGNATURES[name]


def test_workload_members_match_algoperf():
  for name, expected in ALGOPERF_WORKLOAD_SIGNATURES.items():
    assert list(inspect.signature(getattr(spec.Workload, name)).parameters) == expected, name
  for name in ALGOPERF_WORKLOAD_PROPERTIES:
    assert isinstance(inspect.getattr_static(spec.Workload, name), property), name
  # init_model_fn takes rng first (AlgoPerf workloads add the dropout rates after it).
  assert list(inspect.signature(spec.Workload.init_model_fn).parameters)[:2] == ['self', 'rng']
  assert _workload().metrics_logger is None


def test_jax_sharding_utils_has_algoperf_helpers():
  for name in ('get_replicate_sharding', 'get_batch_dim_sharding', 'shard_along_batch_dim',
               'replicate', 'display_shard_info'):
    assert callable(getattr(jax_sharding_utils, name, None)), name
  replicated = jax_sharding_utils.get_replicate_sharding()
  batch = jax_sharding_utils.get_batch_dim_sharding()
  assert isinstance(replicated, NamedSharding) and isinstance(batch, NamedSharding)
  assert replicated.spec == P() and batch.spec == P('batch')
  assert batch.mesh.axis_names == ('batch',)
  assert list(batch.mesh.devices.flat) == jax.devices()
  x = {'w': jax.numpy.arange(2.0 * jax.device_count()).reshape(jax.device_count(), 2)}
  assert jax_sharding_utils.shard_along_batch_dim(x)['w'].sharding == batch
  assert jax_sharding_utils.replicate(x)['w'].sharding == replicated
