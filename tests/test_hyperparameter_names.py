"""A hyperparameter the submission reads but the search space lacks: found statically before
training (compliance.missing_hyperparameters) and named with its search space file at the
first access (tuning's hyperparameters type)."""

import copy
import pickle
import textwrap

import pytest

from algoperf import compliance, tuning

SPACE = 'reference_algorithms/x/space.json'


def _write(tmp_path, name: str, source: str) -> str:
  path = tmp_path / name
  path.write_text(textwrap.dedent(source))
  return str(path)


def test_reads_through_aliases_helpers_and_local_modules(tmp_path):
  _write(tmp_path, 'helpers.py', """
      def schedule(hp, step):
        return hp.warmup_factor * step
      """)
  path = _write(tmp_path, 'submission.py', """
      import helpers

      def _decay(h):
        return h.weight_decay

      def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
        hp = hyperparameters
        lr = hp.learning_rate
        b1 = getattr(hyperparameters, 'beta1')
        return lr, b1, _decay(hyperparameters), helpers.schedule(hp, 0), hp._asdict()

      def update_params(**kwargs):
        return kwargs['hyperparameters'].label_smoothing
      """)
  assert compliance.hyperparameters_read(path) == {
      'learning_rate', 'beta1', 'weight_decay', 'warmup_factor', 'label_smoothing'}
  assert compliance.missing_hyperparameters(
      path, ['learning_rate', 'beta1', 'weight_decay']) == ['label_smoothing', 'warmup_factor']


def test_guarded_reads_are_optional(tmp_path):
  path = _write(tmp_path, 'submission.py', """
      def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
        eps = getattr(hyperparameters, 'epsilon', 1e-8)
        clip = hyperparameters.grad_clip if hasattr(hyperparameters, 'grad_clip') else None
        return eps, clip, hyperparameters.learning_rate
      """)
  assert compliance.hyperparameters_read(path) == {'epsilon', 'grad_clip', 'learning_rate'}
  assert compliance.missing_hyperparameters(path, ['learning_rate']) == []
  assert compliance.missing_hyperparameters(path, []) == ['learning_rate']


def test_other_objects_and_unparsable_files_read_nothing(tmp_path):
  path = _write(tmp_path, 'submission.py', """
      def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
        return workload.step_hint, model_state.momentum
      """)
  assert compliance.hyperparameters_read(path) == set()
  broken = _write(tmp_path, 'broken.py', 'def f(:\n')
  assert compliance.missing_hyperparameters(broken, []) == []


def test_template_reads_only_its_search_space():
  path = 'submissions/template/submission.py'
  names = tuning.load_search_space('submissions/template/tuning_search_space.json').names
  assert compliance.missing_hyperparameters(path, names) == []


def _hparams():
  return tuning.hparams_from_dict({'learning_rate': 0.1, 'beta1': 0.9}, SPACE)


def test_missing_name_error_names_the_file_and_the_name():
  with pytest.raises(AttributeError) as e:
    _ = _hparams().warmup_factor
  assert str(e.value) == (f"hyperparameter 'warmup_factor' is not in the search space {SPACE} "
                          '(it has: learning_rate, beta1)')
  assert getattr(_hparams(), 'warmup_factor', 2.0) == 2.0
  assert not hasattr(_hparams(), 'warmup_factor')


def test_study_points_name_their_search_space(tmp_path):
  space_path = tmp_path / 'space.json'
  space_path.write_text('{"learning_rate": {"min": 0.001, "max": 0.1, "scaling": "log"}}')
  [hp] = tuning.study_points(tuning.load_search_space(space_path), 1, 0, pool_seed=0)
  with pytest.raises(AttributeError, match=f'not in the search space {space_path} '):
    _ = hp.beta1


def test_still_a_namedtuple_that_pickles_and_copies():
  hp = _hparams()
  assert isinstance(hp, tuple) and hp._fields == ('learning_rate', 'beta1')
  assert hp._asdict() == {'learning_rate': 0.1, 'beta1': 0.9}
  assert hp._replace(beta1=0.5).beta1 == 0.5
  for back in (pickle.loads(pickle.dumps(hp)), copy.deepcopy(hp)):
    assert back == hp and back._asdict() == hp._asdict()
    with pytest.raises(AttributeError, match=SPACE):
      _ = back.warmup_factor
  assert tuning.hparams_from_dict(tuning.hparams_to_dict(hp)) == hp


# --- The knobs the Tuning Playbook turns, under one name in every reference algorithm -----

REFERENCE_EXTERNAL = ('adafactor', 'adam', 'adamw', 'fge', 'freezeout', 'lamb', 'momentum',
                      'nadam', 'nadamw', 'nesterov', 'rmsprop', 'sam', 'schedule_free_adamw',
                      'sgd', 'shampoo', 'snapshot_ensemble', 'swa')


def test_every_external_reference_algorithm_is_listed():
  import glob
  import os
  found = {os.path.basename(os.path.dirname(p))
           for p in glob.glob('reference_algorithms/*/tuning_search_space_fixed.json')}
  assert found == set(REFERENCE_EXTERNAL)


@pytest.mark.parametrize('name', REFERENCE_EXTERNAL)
def test_learning_rate_warmup_steps_and_grad_clip_mean_the_same_everywhere(name):
  """`warmup_steps` (docs/diagnose.md) is a linear warmup from 0: with it, the first update
  moves nothing, whatever the rate and `warmup_factor`; `grad_clip` and `learning_rate` are
  read from the same point. Without `warmup_steps` a point trains as before."""
  import sys
  sys.path.insert(0, 'tests/reference_algorithms')
  import jax
  import numpy as np
  import refalg_testlib as lib

  [point, *_] = tuning.load_search_space(
      f'reference_algorithms/{name}/tuning_search_space_fixed.json').points
  names = tuning.load_search_space(
      f'reference_algorithms/{name}/tuning_search_space_fixed.json').names
  values = {**dict(zip(names, point, strict=True)), 'warmup_factor': 0.0, 'learning_rate': 0.1,
            'grad_clip': 1.0}
  module = lib.load(name)
  workload = lib.ToyRegressionWorkload(step_hint=20)
  initial, _ = workload.init_model_fn(jax.random.split(jax.random.key(0), 4)[0])
  _, warmed, _ = lib.run_trial(module, workload, lib.hparams(**values, warmup_steps=3),
                               num_steps=1)
  # Without the knob this point's first step moves params by ~1e-2 (rate 0.1, no warmup
  # factor); schedule-free's interpolation leaves float rounding (~1e-9) at rate 0.
  for before, after in zip(jax.tree.leaves(initial), jax.tree.leaves(warmed), strict=True):
    np.testing.assert_allclose(np.asarray(after), np.asarray(before), rtol=0, atol=1e-6)
