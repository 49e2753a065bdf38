"""Tests for search spaces, quasirandom points, study planning and seeds."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from algoperf import tuning

DATA = pathlib.Path(__file__).parent / 'data' / 'tuning'
DICT_SPACE = DATA / 'adamw_space.json'
LIST_SPACE = DATA / 'fixed_space.json'
REPO_ROOT = pathlib.Path(tuning.__file__).resolve().parents[1]


def _write(tmp_path, text, name='space.json'):
  path = tmp_path / name
  path.write_text(text)
  return path


def _space(obj):
  return tuning.parse_search_space(obj, 'inline.json')


# --- Loading ----------------------------------------------------------------------------


def test_dict_form_loads_in_file_order():
  space = tuning.load_search_space(DICT_SPACE)
  assert isinstance(space, tuning.QuasirandomSpace)
  assert space.names == ('learning_rate', 'one_minus_beta1', 'beta2', 'warmup_factor',
                         'weight_decay', 'label_smoothing', 'dropout_rate')
  assert space.dims[0] == tuning.Range(1e-4, 1e-2, 'log')
  assert space.dims[2] == tuning.Choice((0.999,))


def test_list_form_loads_points_in_order():
  space = tuning.load_search_space(LIST_SPACE)
  assert isinstance(space, tuning.FixedSpace)
  assert space.names == ('learning_rate', 'beta2', 'warmup_factor', 'optimizer')
  assert len(space.points) == 3
  assert space.points[2] == (0.004958, 0.629, 0.02, 'nadamw')


MALFORMED = {
    'not_json': ('{"learning_rate": {"min": 1e-4,', 'not valid JSON'),
    'top_level_number': ('3', 'top level must be'),
    'min_above_max': ('{"lr": {"min": 1.0, "max": 0.1, "scaling": "linear"}}',
                      'must not exceed max'),
    'log_nonpositive_min': ('{"lr": {"min": 0.0, "max": 0.1, "scaling": "log"}}',
                            'log scaling needs min > 0'),
    'misspelt_key': ('{"lr": {"min": 0.1, "max": 1.0, "scalling": "log"}}', "'scalling'"),
    'unknown_scaling': ('{"lr": {"min": 0.1, "max": 1.0, "scaling": "exp"}}',
                        'scaling must be one of'),
    'empty_feasible_points': ('{"lr": {"feasible_points": []}}', 'non-empty list'),
    'feasible_points_plus_range': ('{"lr": {"feasible_points": [1], "min": 0}}',
                                   'cannot be combined'),
    'list_keys_differ': ('[{"lr": 0.1, "wd": 0.0}, {"lr": 0.2}]', 'same hyperparameters'),
    'empty_list': ('[]', 'at least one point'),
    'empty_dict': ('{}', 'no hyperparameters'),
    'duplicate_name': ('{"lr": {"feasible_points": [1]}, "lr": {"feasible_points": [2]}}',
                       'duplicate key'),
    'bad_name': ('{"learning-rate": {"feasible_points": [1]}}', 'Python identifier'),
    'nonnumeric_min': ('{"lr": {"min": "0.1", "max": 1.0, "scaling": "log"}}',
                       'min must be a finite number'),
    'nested_value': ('[{"lr": [0.1, 0.2]}]', 'must be a number, string, bool or null'),
    'range_not_object': ('{"lr": 0.1}', 'must be an object'),
}


@pytest.mark.parametrize('case', sorted(MALFORMED))
def test_malformed_space_raises_one_clear_error(tmp_path, case):
  text, rule = MALFORMED[case]
  path = _write(tmp_path, text, name=f'{case}.json')
  with pytest.raises(tuning.SearchSpaceError) as info:
    tuning.load_search_space(path)
  assert str(path) in str(info.value)
  assert rule in str(info.value)
  assert isinstance(info.value, ValueError)


def test_missing_file_names_the_file(tmp_path):
  with pytest.raises(tuning.SearchSpaceError, match='nowhere.json'):
    tuning.load_search_space(tmp_path / 'nowhere.json')


# --- Points -----------------------------------------------------------------------------


def test_points_within_bounds_and_log_uniform():
  space = _space({'lr': {'min': 1e-6, 'max': 1.0, 'scaling': 'log'},
                  'wd': {'min': -2.0, 'max': 2.0, 'scaling': 'linear'}})
  points = tuning.pool_points(space, 0, 1200, pool_seed=7)
  lr = np.array([p['lr'] for p in points])
  wd = np.array([p['wd'] for p in points])
  assert lr.min() >= 1e-6 and lr.max() <= 1.0
  assert wd.min() >= -2.0 and wd.max() <= 2.0
  # Log-uniform: each of the six decades gets about a sixth of the points.
  per_decade = np.histogram(np.log10(lr), bins=6, range=(-6, 0))[0] / len(lr)
  np.testing.assert_allclose(per_decade, 1 / 6, atol=0.01)
  # Linear: quarters of the interval get about a quarter each.
  per_quarter = np.histogram(wd, bins=4, range=(-2, 2))[0] / len(wd)
  np.testing.assert_allclose(per_quarter, 0.25, atol=0.01)


def test_degenerate_range_gives_its_single_value():
  space = _space({'lr': {'min': 0.5, 'max': 0.5, 'scaling': 'log'}})
  assert {p['lr'] for p in tuning.pool_points(space, 0, 5, pool_seed=0)} == {0.5}


def test_feasible_points_only_yield_listed_values():
  choices = ['adamw', True, 3, 0.25, None]
  space = _space({'opt': {'feasible_points': choices}})
  values = [p['opt'] for p in tuning.pool_points(space, 0, 100, pool_seed=3)]
  assert all(any(v is c or (type(v) is type(c) and v == c) for c in choices) for v in values)
  # Quasirandom coverage: 100 draws over 5 points put 20 +- 1 on each (random: +- 4).
  counts = [sum(type(v) is type(c) and v == c for v in values) for c in choices]
  assert all(19 <= n <= 21 for n in counts), counts


def test_same_seed_same_points_and_other_seed_other_points():
  space = tuning.load_search_space(DICT_SPACE)
  first = tuning.study_points(space, 5, 0, pool_seed=11)
  assert first == tuning.study_points(space, 5, 0, pool_seed=11)
  assert first != tuning.study_points(space, 5, 0, pool_seed=12)


def test_key_order_does_not_change_points():
  a = _space({'x': {'min': 0, 'max': 1, 'scaling': 'linear'},
              'y': {'min': 1, 'max': 2, 'scaling': 'linear'}})
  b = _space({'y': {'min': 1, 'max': 2, 'scaling': 'linear'},
              'x': {'min': 0, 'max': 1, 'scaling': 'linear'}})
  assert tuning.pool_points(a, 0, 4, 5) == tuning.pool_points(b, 0, 4, 5)


def test_plan_is_identical_in_a_fresh_process():
  code = ('import json; from algoperf import tuning; '
          f'plan = tuning.plan_study("external", {str(DICT_SPACE)!r}, 4, 2, base_seed=123); '
          'print(json.dumps([[p.trial_index, p.seed, tuning.hparams_to_dict(p.hyperparameters)]'
          ' for p in plan]))')
  env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
  out = subprocess.run([sys.executable, '-c', code], env=env, cwd=REPO_ROOT, check=True,
                       capture_output=True, text=True).stdout
  here = tuning.plan_study('external', DICT_SPACE, 4, 2, base_seed=123)
  expected = [[p.trial_index, p.seed, tuning.hparams_to_dict(p.hyperparameters)] for p in here]
  assert json.loads(out) == expected


def test_studies_get_disjoint_slices_of_one_pool():
  space = tuning.load_search_space(DICT_SPACE)
  n = 4
  studies = [tuning.study_points(space, n, k, pool_seed=9) for k in range(3)]
  joined = [tuning.hparams_to_dict(hp) for study in studies for hp in study]
  assert joined == tuning.pool_points(space, 0, 3 * n, pool_seed=9)
  learning_rates = [p['learning_rate'] for p in joined]
  assert len(set(learning_rates)) == 3 * n


def test_plans_of_different_studies_share_the_default_pool():
  plans = [tuning.plan_study('external', DICT_SPACE, 3, k, base_seed=5) for k in range(2)]
  joined = [tuning.hparams_to_dict(p.hyperparameters) for plan in plans for p in plan]
  space = tuning.load_search_space(DICT_SPACE)
  assert joined == tuning.pool_points(space, 0, 6, tuning.default_pool_seed(5))


def test_list_form_uses_points_in_order_in_every_study():
  for study in (0, 3):
    plan = tuning.plan_study('external', LIST_SPACE, 2, study, base_seed=1)
    assert [p.hyperparameters.learning_rate for p in plan] == [0.001308, 0.000844]
  with pytest.raises(tuning.SearchSpaceError, match='only 3 point'):
    tuning.plan_study('external', LIST_SPACE, 4, 0, base_seed=1)


# --- Planning and slicing -----------------------------------------------------------------


def test_slice_keeps_global_trial_indices():
  full = tuning.plan_study('external', DICT_SPACE, 5, 1, base_seed=42)
  part = tuning.plan_study('external', DICT_SPACE, 5, 1, base_seed=42, start_index=1,
                           end_index=3)
  assert [p.trial_index for p in full] == [1, 2, 3, 4, 5]
  assert [p.trial_index for p in part] == [2, 3]
  assert part == full[1:3]
  tail = tuning.plan_study('external', DICT_SPACE, 5, 1, base_seed=42, start_index=3)
  assert tail == full[3:]


@pytest.mark.parametrize('start,end', [(-1, None), (0, 6), (3, 3), (4, 2), (5, None)])
def test_bad_slice_raises(start, end):
  with pytest.raises(ValueError, match='hparam slice'):
    tuning.plan_study('external', DICT_SPACE, 5, 0, base_seed=0, start_index=start,
                      end_index=end)


def test_argument_errors():
  with pytest.raises(ValueError, match='needs a search space'):
    tuning.plan_study('external', None, 3, 0, base_seed=0)
  with pytest.raises(ValueError, match='num_trials'):
    tuning.plan_study('external', DICT_SPACE, 0, 0, base_seed=0)
  with pytest.raises(ValueError, match='ruleset'):
    tuning.plan_study('extern', DICT_SPACE, 1, 0, base_seed=0)
  with pytest.raises(ValueError, match='base_seed'):
    tuning.plan_study('external', DICT_SPACE, 1, 0, base_seed=-1)


def test_self_tuning_plan_has_one_trial_without_hyperparameters():
  plan = tuning.plan_study('self', None, 1, 2, base_seed=8)
  assert plan == [tuning.TrialPlan(2, 1, tuning.trial_seed(tuning.study_seed(8, 2), 1), None)]
  with pytest.warns(UserWarning, match='ignores the search space'):
    assert tuning.plan_study('self', DICT_SPACE, 1, 2, base_seed=8) == plan
  with pytest.warns(UserWarning, match='runs one trial'):
    assert tuning.plan_study('self', None, 5, 2, base_seed=8) == plan


def test_budget_factors():
  assert tuning.budget_factor('self') == tuning.SELF_TUNING_BUDGET_FACTOR == 1.5
  assert tuning.budget_factor('external') == tuning.EXTERNAL_BUDGET_FACTOR == 1.0


# --- Seeds ------------------------------------------------------------------------------


def test_seeds_are_deterministic_distinct_plain_ints():
  seeds = [tuning.trial_seed(tuning.study_seed(0, k), i) for k in range(5) for i in range(1, 11)]
  assert len(set(seeds)) == len(seeds)
  assert all(type(s) is int and 0 <= s < 2**31 for s in seeds)
  assert seeds == [tuning.trial_seed(tuning.study_seed(0, k), i)
                   for k in range(5) for i in range(1, 11)]
  assert tuning.study_seed(0, 0) != tuning.study_seed(1, 0)
  plan = tuning.plan_study('external', DICT_SPACE, 3, 0, base_seed=0)
  assert [p.seed for p in plan] == seeds[:3]


def test_random_base_seed_is_a_valid_seed():
  seed = tuning.random_base_seed()
  assert type(seed) is int and 0 <= seed < 2**31
  tuning.study_seed(seed, 0)


# --- Hyperparameter objects -------------------------------------------------------------


def test_hyperparameters_behave_like_algoperf():
  hp = tuning.plan_study('external', DICT_SPACE, 1, 0, base_seed=0)[0].hyperparameters
  assert type(hp).__name__ == 'Hyperparameters'
  assert 1e-4 <= hp.learning_rate <= 1e-2
  assert hp.beta2 == 0.999
  assert hasattr(hp, 'dropout_rate') and not hasattr(hp, 'aux_dropout_rate')
  with pytest.raises(AttributeError):
    hp.learning_rate = 1.0
  assert {hp: 'ok'}[hp] == 'ok'
  assert list(hp._asdict()) == list(tuning.load_search_space(DICT_SPACE).names)


def test_hparams_json_round_trip(tmp_path):
  hp = tuning.plan_study('external', DICT_SPACE, 2, 1, base_seed=3)[1].hyperparameters
  path = tmp_path / 'hparams.json'
  path.write_text(json.dumps(tuning.hparams_to_dict(hp), indent=2))
  back = tuning.hparams_from_dict(json.loads(path.read_text()))
  assert back == hp and back._asdict() == hp._asdict()
  assert type(back).__name__ == 'Hyperparameters'
  assert back.weight_decay == hp.weight_decay  # Floats survive JSON exactly.


def test_shared_seed_gives_every_trial_the_first_trials_seed(tmp_path):
  path = tmp_path / 'points.json'
  path.write_text('[{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]')
  plain = tuning.plan_study('external', path, 3, 0, base_seed=5)
  shared = tuning.plan_study('external', path, 3, 0, base_seed=5, shared_seed=True)
  assert len({p.seed for p in plain}) == 3
  assert [p.seed for p in shared] == [plain[0].seed] * 3
  assert [p.hyperparameters for p in shared] == [p.hyperparameters for p in plain]
