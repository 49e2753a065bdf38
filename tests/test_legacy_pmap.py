"""Legacy pmap mode: AlgoPerf v0.5 (pmap-era) submissions run unchanged (docs/legacy_submissions.md).

The fixtures under tests/submissions/legacy/ are written for these tests in the v0.5 style
(not copies): `adam_pmap_v05.py` imports the old package name `algorithmic_efficiency`,
`momentum_pmap_v06.py` is shaped like the pmap-style baselines of the v0.6 leaderboard.
The real workloads (batch norm's model state, every registered workload) are in
tests/workloads/test_legacy_pmap_workloads.py.
"""

import csv
import functools
import json
import logging
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algoperf import checkpoint, experiment, legacy_pmap, logs, runner, spec, submission, tuning

pytestmark = pytest.mark.compat

TESTS_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

LEGACY_DIR = TESTS_DIR / 'submissions' / 'legacy'
ADAM_V05 = LEGACY_DIR / 'adam_pmap_v05.py'
MOMENTUM_V06 = LEGACY_DIR / 'momentum_pmap_v06.py'
V06_JIT = TESTS_DIR / 'submissions' / 'algoperf_v06_style.py'
SGD = TESTS_DIR / 'submissions' / 'sgd.py'
HPARAMS = {'learning_rate': 0.05, 'one_minus_beta1': 0.1, 'beta2': 0.999,
           'warmup_factor': 0.05, 'weight_decay': 0.0, 'label_smoothing': 0.0,
           'dropout_rate': 0.0}
MAX_STEPS = 40


def _hyperparameters():
  return tuning.hyperparameters_type(list(HPARAMS))(**HPARAMS)


def _workload(**kwargs):
  # Unreachable targets: a trial runs to MAX_STEPS, evaluating after step 1 and at the end.
  kwargs = {'validation_target': 1e-9, 'test_target': 1e-9, 'eval_period_sec': 1e9,
            **kwargs}
  return toy_workload.ToyRegressionWorkload(**kwargs)


def trial(path, mode='auto', steps=MAX_STEPS, log_dir=None, resume=False, **workload_kwargs):
  """One toy trial of the submission at `path` through `runner.run_trial`."""
  sub = submission.load_submission(str(path))
  try:
    n = jax.device_count()
    workload = _workload(**workload_kwargs)
    return runner.run_trial(runner.TrialConfig(
        workload=workload, submission_workload=_workload(**workload_kwargs),
        workload_name='toy', submission=sub, hyperparameters=_hyperparameters(), seed=0,
        global_batch_size=submission.resolve_batch_size(
            sub, 'toy', 'toy', workload.default_batch_size, n),
        eval_batch_size=submission.resolve_eval_batch_size(
            sub, 'toy', workload.eval_batch_size, n),
        budget_sec=600.0, log_dir=None if log_dir is None else str(log_dir),
        max_global_steps=steps, save_checkpoints=log_dir is not None, resume=resume,
        show_progress=False, legacy_pmap=mode))
  finally:
    if hasattr(sub, 'unload'):
      sub.unload()


def _write(path, text):
  path.write_text(textwrap.dedent(text))
  return path


# --- the old package name ----------------------------------------------------------------


def test_old_package_name_is_the_runners_spec():
  import algorithmic_efficiency
  import algorithmic_efficiency.spec as dotted
  from algorithmic_efficiency import spec as from_import
  assert dotted is from_import is algorithmic_efficiency.spec is spec
  # So a v0.5 submission's TrainingCompleteError is the one the runner catches.
  assert from_import.TrainingCompleteError is spec.TrainingCompleteError


def test_old_random_utils_and_removed_jax_aliases():
  from algorithmic_efficiency import random_utils as prng
  key = prng.PRNGKey(-1)
  assert prng.split(key, 3).shape == (3, 2)
  np.testing.assert_array_equal(prng.fold_in(key, 5), jax.random.fold_in(key, 5))
  # pmap-era code calls jax.tree_map; JAX 0.6 removed it, the old package puts it back.
  assert jax.tree_map(lambda x: x + 1, {'a': 1}) == {'a': 2}
  assert legacy_pmap.restore_removed_jax_aliases() == []  # idempotent


def test_unprovided_v05_module_fails_naming_the_file_and_module(tmp_path):
  path = _write(tmp_path / 'submission.py', '''
      from algorithmic_efficiency.pytorch_utils import pytorch_setup
  ''')
  with pytest.raises(submission.SubmissionError) as info:
    submission.load_submission(str(path))
  message = str(info.value)
  assert str(path) in message and 'algorithmic_efficiency.pytorch_utils' in message


# --- detection ---------------------------------------------------------------------------


@pytest.mark.parametrize('path, verdict, evidence', [
    (ADAM_V05, 'legacy', ['imports algorithmic_efficiency', 'calls jax.pmap',
                          'flax.jax_utils.replicate']),
    (MOMENTUM_V06, 'legacy', ['calls jax.pmap', 'flax.jax_utils.replicate']),
    (V06_JIT, 'default', ['uses algoperf.jax_sharding_utils', 'in_shardings']),
    (SGD, 'default', []),
], ids=['v05', 'v06_pmap_baseline', 'v06_jit', 'plain'])
def test_detection_of_the_fixtures(path, verdict, evidence):
  detection = legacy_pmap.detect(str(path))
  assert detection.verdict == verdict
  text = detection.legacy_text() + detection.modern_text()
  for what in evidence:
    assert what in text
  if verdict == 'legacy':
    assert not detection.modern


@pytest.mark.parametrize('source, verdict', [
    ('from jax import pmap as P\nf = P(lambda x: x)\n', 'legacy'),
    ('import flax.jax_utils as ju\nx = ju.replicate({})\n', 'legacy'),
    ('import algorithmic_efficiency.spec\n', 'legacy'),
    ('import jax\nf = jax.jit(lambda x: x)\n', 'default'),
    ('import jax\npmap = 1\n', 'default'),  # a name, not jax.pmap
    ('import jax\nfrom algoperf import jax_sharding_utils\nf = jax.pmap(abs)\n', 'ambiguous'),
    ('def broken(:\n', 'default'),  # does not parse: no evidence (the loader reports it)
])
def test_detection_reads_imports_and_aliases(tmp_path, source, verdict):
  path = _write(tmp_path / 'submission.py', source)
  assert legacy_pmap.detect(str(path)).verdict == verdict


def test_detection_follows_local_helper_modules(tmp_path):
  _write(tmp_path / 'steps.py', '''
      import functools
      import jax
      train_step = functools.partial(jax.pmap, axis_name='batch')
  ''')
  path = _write(tmp_path / 'submission.py', 'from steps import train_step\n')
  detection = legacy_pmap.detect(str(path))
  assert detection.verdict == 'legacy'
  assert detection.legacy[0].file == str(tmp_path / 'steps.py')
  assert 'steps.py:4' in detection.legacy_text()


def test_mode_choice_and_its_log(tmp_path, caplog):
  caplog.set_level(logging.INFO, logger='algoperf.legacy_pmap')
  auto = legacy_pmap.for_trial('auto', str(ADAM_V05))
  assert auto.legacy and auto.name == 'legacy_pmap'
  assert 'adam_pmap_v05.py runs in legacy pmap mode' in caplog.text
  assert 'calls jax.pmap (adam_pmap_v05.py:' in caplog.text
  assert not legacy_pmap.for_trial('off', str(ADAM_V05)).legacy
  assert legacy_pmap.for_trial('on', str(SGD)).legacy
  assert 'shows no pmap-era code' in caplog.text  # forced on without evidence: a warning
  assert not legacy_pmap.for_trial('auto', str(V06_JIT)).legacy
  assert legacy_pmap.convention_name('auto', str(ADAM_V05)) == 'legacy_pmap'
  assert legacy_pmap.convention_name('off', str(ADAM_V05)) == 'default'
  ambiguous = _write(tmp_path / 'both.py', '''
      import jax
      from algoperf import jax_sharding_utils
      step = jax.pmap(abs)
  ''')
  caplog.clear()
  assert not legacy_pmap.for_trial('auto', str(ambiguous)).legacy
  assert 'run it with --legacy_pmap=on' in caplog.text
  with pytest.raises(ValueError, match='--legacy_pmap must be one of auto, on, off'):
    legacy_pmap.for_trial('yes', str(SGD))


def test_experiment_config_refuses_an_unknown_mode(tmp_path):
  with pytest.raises(experiment.ExperimentError, match='--legacy_pmap must be one of'):
    experiment.ExperimentConfig(submission_path=str(SGD), workload_name='toy',
                                experiment_dir=str(tmp_path), experiment_name='x',
                                legacy_pmap='v05')


# --- the conversions ---------------------------------------------------------------------


def test_state_and_batches_in_legacy_form():
  convention = legacy_pmap.LegacyPmapConvention()
  n = jax.local_device_count()
  params = {'w': jnp.arange(6.0).reshape(3, 2), 'b': jnp.ones(2)}
  state = {'batch_stats': {'mean': jnp.zeros(2)}, 'count': jnp.zeros((), jnp.int32)}
  legacy_params, legacy_state = convention.to_submission(params, state)
  assert legacy_params['w'].shape == (n, 3, 2) and legacy_state['count'].shape == (n,)
  back, _ = convention.for_eval(legacy_params, legacy_state)
  np.testing.assert_array_equal(back['w'], params['w'])
  assert convention.to_submission(params, None)[1] is None
  # Per-device batch statistics are averaged for evaluation (v0.5's sync_batch_stats);
  # integer leaves take the first device's value.
  rows = {'batch_stats': {'mean': jnp.arange(n * 2.0).reshape(n, 2)},
          'count': jnp.arange(n, dtype=jnp.int32) + 7}
  _, synced = convention.for_eval(legacy_params, rows)
  np.testing.assert_allclose(synced['batch_stats']['mean'],
                             np.arange(n * 2.0).reshape(n, 2).mean(axis=0))
  assert int(synced['count']) == 7
  # A global batch becomes per-device rows: row i holds the i-th contiguous slice.
  batch = {'inputs': np.arange(8 * n * 3.0).reshape(8 * n, 3), 'targets': np.arange(8 * n)}
  rows = convention.per_device_batch(batch)
  assert rows['inputs'].shape == (n, 8, 3) and rows['targets'].shape == (n, 8)
  np.testing.assert_array_equal(np.asarray(rows['targets']).ravel(), batch['targets'])


def test_per_device_queue_keeps_the_position_of_the_runners_queue():
  workload = _workload()
  queue = runner._resumable(workload._build_input_queue(jax.random.key(0), 'train', '', 32))
  legacy = legacy_pmap.LegacyPmapConvention().input_queue(queue)
  first = next(legacy)
  assert first['inputs'].shape == (jax.local_device_count(), 32 // jax.local_device_count(),
                                   toy_workload.NUM_FEATURES)
  state = legacy.get_state()
  legacy.prefetch()
  second = next(legacy)
  legacy.set_state(state)
  np.testing.assert_array_equal(next(legacy)['inputs'], second['inputs'])


def test_legacy_view_accepts_v05_model_fn_keywords():
  workload = _workload()
  params, _ = workload.init_model_fn(jax.random.key(0))
  view = legacy_pmap.LegacyWorkloadView(workload, None)
  assert isinstance(view, spec.Workload) and 'legacy pmap mode' in repr(view)
  batch = {'inputs': jnp.ones((4, toy_workload.NUM_FEATURES))}
  logits, state = view.model_fn(params, batch, {'kept': 1}, spec.ForwardPassMode.TRAIN,
                                None, update_batch_norm=True, use_running_average_bn=True)
  assert logits.shape == (4, 1) and state == {'kept': 1}
  hash(view)  # a static argument of the submission's pmap


# --- training ----------------------------------------------------------------------------


@pytest.fixture(scope='module')
def v05_trial(tmp_path_factory):
  log_dir = tmp_path_factory.mktemp('legacy') / 'trial_1'
  return trial(ADAM_V05, log_dir=log_dir), log_dir


def test_v05_submission_trains_unchanged_in_auto_mode(v05_trial):
  result, log_dir = v05_trial
  assert result.status == runner.MAX_STEPS and result.global_step == MAX_STEPS
  assert [step for step, _ in result.eval_results] == [1, MAX_STEPS]
  first, last = (row['validation/loss'] for _, row in result.eval_results)
  assert np.isfinite(last) and last < 0.1 * first, (first, last)
  # The caller gets the runner's form back: one copy of the params, the workload's shapes.
  assert jax.tree.map(lambda x: x.shape, result.params) == {
      'dense': {'kernel': (toy_workload.NUM_FEATURES, 1), 'bias': (1,)}}
  # The optimizer state stays the submission's: replicated, with its update function.
  opt_state, update_fn = result.optimizer_state
  assert callable(update_fn) and opt_state['count'].shape == (jax.local_device_count(),)
  meta = json.loads((log_dir / 'meta_data_0.json').read_text())
  assert meta['calling_convention'] == 'legacy_pmap'
  # The submission's own metrics (loss[0], read off the first device) reach the log.
  with open(log_dir / logs.MEASUREMENTS, newline='') as f:
    logged = [r for r in csv.DictReader(f) if r.get('loss')]
  assert [r['global_step'] for r in logged] == ['0', '10', '20', '30']


def test_v06_leaderboard_pmap_baseline_trains_unchanged():
  result = trial(MOMENTUM_V06)
  first, last = (row['validation/loss'] for _, row in result.eval_results)
  assert result.status == runner.MAX_STEPS and last < 0.1 * first, (first, last)


def test_legacy_submission_in_default_mode_fails_with_the_flag_to_use():
  with pytest.raises(submission.SubmissionError) as info:
    trial(ADAM_V05, mode='off', steps=2)
  message = str(info.value)
  assert message.startswith(f'{ADAM_V05}: update_params: raised')
  assert 'AlgoPerf v0.5 (pmap) submission' in message and '--legacy_pmap=on' in message
  assert 'For simplicity, JAX' not in message  # only the runner's own hints are shown


def test_params_with_a_device_axis_in_default_mode_are_named_as_such(tmp_path):
  # No pmap in sight (so auto runs it in the default convention), yet it returns
  # replicated params: the structure check says what the leading axis means.
  path = _write(tmp_path / 'submission.py', '''
      import jax
      from algoperf import jax_sharding_utils

      def get_batch_size(workload_name):
        return 32

      def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
        return None

      def update_params(workload, current_param_container, current_params_types,
                        model_state, hyperparameters, batch, loss_type, optimizer_state,
                        eval_results, global_step, rng):
        n = jax.local_device_count()
        params = jax.tree.map(lambda x: jax.numpy.stack([x] * n), current_param_container)
        return optimizer_state, params, model_state

      def data_selection(workload, input_queue, optimizer_state, current_param_container,
                         model_state, hyperparameters, global_step, rng):
        return next(input_queue)
  ''')
  with pytest.raises(submission.SubmissionError) as info:
    trial(path, steps=2)
  message = str(info.value)
  assert 'returned params with changed shapes at step 0' in message
  assert 'leading device axis' in message and '--legacy_pmap=on' in message


def test_shape_mismatch_hint_in_both_directions():
  n = jax.local_device_count()
  assert '--legacy_pmap=on' in legacy_pmap.shape_mismatch_hint([(n, 8, 1)], [(8, 1)])
  assert '--legacy_pmap=off' in legacy_pmap.shape_mismatch_hint([(8, 1)], [(n, 8, 1)])
  assert legacy_pmap.shape_mismatch_hint([(3, 1)], [(8, 1)]) == ''


# --- resume ------------------------------------------------------------------------------

RESUME_STEPS, KILL_AT = 6, 3


class _Preempted(BaseException):
  """Stands for a kill: raised right after the checkpoint of step KILL_AT is written."""


def test_legacy_trial_resumes_exactly(tmp_path, monkeypatch):
  log_dir = tmp_path / 'killed'
  save = checkpoint.save

  def save_then_die(trial_dir, state, keep_all=False):
    save(trial_dir, state, keep_all)
    if state.global_step >= KILL_AT:
      raise _Preempted()

  monkeypatch.setattr(checkpoint, 'save', save_then_die)
  with pytest.raises(_Preempted):
    trial(ADAM_V05, steps=RESUME_STEPS, log_dir=log_dir, eval_period_sec=0.0)
  monkeypatch.setattr(checkpoint, 'save', save)
  assert checkpoint.latest_step(str(log_dir)) == KILL_AT
  resumed = trial(ADAM_V05, steps=RESUME_STEPS, log_dir=log_dir, resume=True,
                  eval_period_sec=0.0)
  straight = trial(ADAM_V05, steps=RESUME_STEPS, eval_period_sec=0.0)
  assert resumed.preemption_count == 1 and resumed.global_step == RESUME_STEPS
  jax.tree.map(np.testing.assert_array_equal, resumed.params, straight.params)
  jax.tree.map(np.testing.assert_array_equal, resumed.optimizer_state[0],
               straight.optimizer_state[0])
  assert ([row['validation/loss'] for _, row in resumed.eval_results]
          == [row['validation/loss'] for _, row in straight.eval_results])


def test_resume_refuses_another_calling_convention(tmp_path):
  space = tmp_path / 'space.json'
  space.write_text(json.dumps([HPARAMS]))
  values = dict(submission_path=str(ADAM_V05), workload_name='toy',
                experiment_dir=str(tmp_path / 'exp'), experiment_name='run',
                tuning_search_space=str(space), rng_seed=0, max_global_steps=3,
                show_progress=False, isolate_trials=False)
  factory = functools.partial(_workload)
  [outcome] = experiment.run_experiment(experiment.ExperimentConfig(**values), factory, 'toy')
  assert outcome.error is None and outcome.summary['status'] == runner.MAX_STEPS
  with pytest.raises(experiment.ExperimentError, match="calling convention 'legacy_pmap'"):
    experiment.run_experiment(experiment.ExperimentConfig(
        **values, resume_last_run=True, legacy_pmap='off'), factory, 'toy')


# --- 8 devices ---------------------------------------------------------------------------

_EIGHT_DEVICES = textwrap.dedent('''
    import json, sys
    import algorithmic_efficiency.spec  # the old name first, before algoperf is imported
    import jax
    import numpy as np
    sys.path.insert(0, {tests_dir!r})
    import test_legacy_pmap as t
    from algoperf import checkpoint, submission

    shapes = []
    real_split = t.legacy_pmap.LegacyPmapConvention.per_device_batch

    def recording_split(self, batch):
      rows = real_split(self, batch)
      shapes.append([list(rows['inputs'].shape), len(rows['inputs'].sharding.device_set)])
      return rows

    t.legacy_pmap.LegacyPmapConvention.per_device_batch = recording_split
    result = t.trial(t.ADAM_V05)
    t.legacy_pmap.LegacyPmapConvention.per_device_batch = real_split

    def error(path, mode):
      try:
        t.trial(path, mode=mode, steps=2)
      except submission.SubmissionError as e:
        return str(e)

    # Kill after the checkpoint of step KILL_AT, resume, compare with a straight run.
    log_dir = sys.argv[1]
    save = checkpoint.save
    def save_then_die(trial_dir, state, keep_all=False):
      save(trial_dir, state, keep_all)
      if state.global_step >= t.KILL_AT:
        raise t._Preempted()
    checkpoint.save = save_then_die
    try:
      t.trial(t.ADAM_V05, steps=t.RESUME_STEPS, log_dir=log_dir + '/killed',
              eval_period_sec=0.0)
    except t._Preempted:
      pass
    checkpoint.save = save
    resumed = t.trial(t.ADAM_V05, steps=t.RESUME_STEPS, log_dir=log_dir + '/killed',
                      resume=True, eval_period_sec=0.0)
    straight = t.trial(t.ADAM_V05, steps=t.RESUME_STEPS, eval_period_sec=0.0)
    same = all(np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(resumed.params), jax.tree.leaves(straight.params)))
    print(json.dumps({{
        'device_count': jax.device_count(),
        'batch_shapes': shapes[:2],
        'status': result.status,
        'eval_results': result.eval_results,
        'param_shapes': jax.tree.map(lambda x: list(x.shape), result.params),
        'opt_count_shape': list(result.optimizer_state[0]['count'].shape),
        'resumed_equals_straight': same,
        'resumed_preemptions': resumed.preemption_count,
        'jit_submission_forced_on': error(t.V06_JIT, 'on'),
        'pmap_submission_forced_off': error(t.ADAM_V05, 'off'),
    }}))
''')


def test_legacy_mode_on_8_cpu_devices(v05_trial, tmp_path):
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=(
      os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=8').strip())
  proc = subprocess.run(
      [sys.executable, '-c', _EIGHT_DEVICES.format(tests_dir=str(TESTS_DIR)),
       str(tmp_path)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-4000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out['device_count'] == 8
  # Every batch reached the submission as 8 per-device rows of 4, one row per device.
  assert out['batch_shapes'] == [[[8, 4, toy_workload.NUM_FEATURES], 8]] * 2
  assert out['status'] == runner.MAX_STEPS
  assert out['param_shapes'] == {'dense': {'bias': [1], 'kernel': [8, 1]}}
  assert out['opt_count_shape'] == [8]
  # The same global batches and a psum over devices: the 1-device curve, up to rounding.
  one_device, _ = v05_trial
  for (step8, row8), (step1, row1) in zip(out['eval_results'], one_device.eval_results,
                                          strict=True):
    assert step8 == step1
    assert row8['validation/loss'] == pytest.approx(row1['validation/loss'], rel=1e-4)
  assert out['resumed_equals_straight'] and out['resumed_preemptions'] == 1
  # Each submission in the other convention: one message naming the file and the flag.
  forced_on, forced_off = out['jit_submission_forced_on'], out['pmap_submission_forced_off']
  assert forced_on.startswith(str(V06_JIT)) and '--legacy_pmap=off' in forced_on
  assert forced_off.startswith(str(ADAM_V05)) and '--legacy_pmap=on' in forced_off
