"""Legacy pmap mode on the real workloads: AlgoPerf v0.5 (pmap) submissions run unchanged,
batch norm's per-device model state included (docs/legacy_submissions.md).

The fixtures are tests/submissions/legacy/*.py; the toy-workload tests, detection and the
error messages are in tests/test_legacy_pmap.py.
"""

import json
import math
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from algoperf import runner, submission, tuning
from workloads import registry

pytestmark = pytest.mark.compat

TESTS_DIR = pathlib.Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
ADAM_V05 = TESTS_DIR / 'submissions' / 'legacy' / 'adam_pmap_v05.py'
MOMENTUM_V06 = TESTS_DIR / 'submissions' / 'legacy' / 'momentum_pmap_v06.py'
HPARAMS = {'learning_rate': 1e-3, 'one_minus_beta1': 0.1, 'beta2': 0.999,
           'warmup_factor': 0.05, 'weight_decay': 0.0, 'label_smoothing': 0.0,
           'dropout_rate': 0.0}
# Divisible by 8 devices, and no larger than the small test splits.
BATCH_SIZE, EVAL_BATCH_SIZE = 16, 1024
BATCH_NORM = 'mnist1d_cnn_batchnorm'


def legacy_trial(workload, submission_workload, name, data_dir, path, steps, **hparams):
  sub = submission.load_submission(str(path))
  values = {**HPARAMS, **hparams}
  try:
    return runner.run_trial(runner.TrialConfig(
        workload=workload, submission_workload=submission_workload, workload_name=name,
        submission=sub, hyperparameters=tuning.hyperparameters_type(list(values))(**values),
        seed=0, global_batch_size=BATCH_SIZE, eval_batch_size=EVAL_BATCH_SIZE,
        budget_sec=1e6, data_dir=data_dir, max_global_steps=steps, show_progress=False))
  finally:
    if hasattr(sub, 'unload'):
      sub.unload()


def _run(prepared, name, path, steps, **hparams):
  workload, data_dir = prepared(name)
  submission_workload, _ = prepared(name)
  return legacy_trial(workload, submission_workload, name, data_dir, path, steps, **hparams)


def _check_finite(result, name):
  assert result.status == runner.MAX_STEPS
  metric = registry.get_workload(name).target_metric_name
  for _, row in result.eval_results:
    for split in ('train', 'validation'):
      assert math.isfinite(row[f'{split}/{metric}']), row


# The default run trains the cheapest real workload; batch norm's per-device model state
# (a CNN whose compile alone takes ~10 s on a small CPU) runs with -m slow.
WORKLOADS = ['noisy_quadratic', pytest.param(BATCH_NORM, marks=pytest.mark.slow)]


@pytest.mark.parametrize('name', WORKLOADS)
def test_real_workload_in_legacy_mode(prepared, name):
  result = _run(prepared, name, ADAM_V05, steps=8)
  _check_finite(result, name)
  # The runner got one copy back, in the workload's shapes.
  workload, _ = prepared(name)
  params, initial = workload.init_model_fn(jax.random.key(0))
  assert (jax.tree.map(lambda x: x.shape, result.params)
          == jax.tree.map(lambda x: x.shape, params))
  assert (jax.tree.map(lambda x: x.shape, result.model_state)
          == jax.tree.map(lambda x: x.shape, initial))
  if initial is not None:  # batch statistics moved
    means = jax.tree.leaves(result.model_state['batch_stats'])
    assert any(float(np.abs(np.asarray(m)).sum()) > 0 for m in means)


_EIGHT_DEVICES = textwrap.dedent('''
    import json, sys
    import jax
    sys.path.insert(0, {workloads_tests!r})
    import test_legacy_pmap_workloads as t
    from workloads import registry

    name, data_dir = sys.argv[1], sys.argv[2]
    result = t.legacy_trial(registry.get_workload(name), registry.get_workload(name), name,
                            data_dir, t.ADAM_V05, steps=8)
    print(json.dumps({{
        'device_count': jax.device_count(),
        'status': result.status,
        'eval_results': result.eval_results,
        'param_shapes': jax.tree.map(lambda x: list(x.shape), result.params),
        'model_state_shapes': jax.tree.map(lambda x: list(x.shape), result.model_state),
    }}))
''')


@pytest.mark.parametrize('name', WORKLOADS)
def test_real_workload_on_8_cpu_devices(prepared, name):
  workload, data_dir = prepared(name)  # MNIST-1D's small cache: read by the subprocess too
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=(
      os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=8').strip())
  proc = subprocess.run(
      [sys.executable, '-c',
       _EIGHT_DEVICES.format(workloads_tests=str(pathlib.Path(__file__).parent)),
       name, data_dir], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
      timeout=600)
  assert proc.returncode == 0, proc.stderr[-4000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out['device_count'] == 8 and out['status'] == runner.MAX_STEPS
  metric = workload.target_metric_name
  for _, row in out['eval_results']:
    assert math.isfinite(row[f'validation/{metric}']) and math.isfinite(row['train/loss'])
  # Eight devices' copies came back as one (batch statistics: their mean).
  params, model_state = workload.init_model_fn(jax.random.key(0))
  assert out['param_shapes'] == jax.tree.map(lambda x: list(x.shape), params)
  assert out['model_state_shapes'] == jax.tree.map(lambda x: list(x.shape), model_state)


@pytest.mark.slow
@pytest.mark.parametrize('name', registry.workload_names())
def test_v05_submission_runs_on_every_workload(prepared, name):
  _check_finite(_run(prepared, name, ADAM_V05, steps=3), name)


@pytest.mark.slow
def test_v06_pmap_baseline_with_dropout_on_char_lm(prepared):
  # Per-device dropout keys (the rng split across devices) through the workload's model_fn.
  _check_finite(_run(prepared, 'char_lm', MOMENTUM_V06, steps=3, dropout_rate=0.1),
                'char_lm')
