"""Grids, ranges and the diagnosed point: each bad input is one error naming the flag."""

import json

import pytest

from algoperf import tuning
from algoperf.diagnosis import grid
from algoperf.diagnosis.config import DiagnosisError, base_point, parse_overrides


def test_log_grid_is_log_spaced_and_keeps_its_ends():
  rates = grid.log_grid(1e-3, 1e-1, 5)
  assert rates == [0.001, 0.00316, 0.01, 0.0316, 0.1]
  assert grid.grid_ratio(rates) == pytest.approx(10**0.5)


@pytest.mark.parametrize('low, high, words', [
    (1e-2, 1e-3, 'minimum must be below the maximum'),
    (1e-2, 1e-2, 'minimum must be below the maximum'),
    (0.0, 1e-2, 'must be positive'),
    (-1e-3, 1e-2, 'must be positive'),
])
def test_bad_ranges_name_the_flags(low, high, words):
  with pytest.raises(DiagnosisError, match=words) as e:
    grid.log_grid(low, high, 5)
  assert '--lr_min/--lr_max' in str(e.value)


def test_too_few_or_indistinguishable_rates_are_refused():
  with pytest.raises(DiagnosisError, match='--num_rates must be at least 2'):
    grid.log_grid(1e-3, 1e-1, 1)
  with pytest.raises(DiagnosisError, match='closer than 3 significant digits'):
    grid.log_grid(1.0, 1.001, 5)


def test_range_from_either_search_space_form(tmp_path):
  ranged = tuning.parse_search_space(
      {'learning_rate': {'min': 1e-4, 'max': 1e-2, 'scaling': 'log'}})
  assert grid.range_from_search_space(ranged, 'learning_rate') == (1e-4, 1e-2)
  listed = tuning.parse_search_space([{'learning_rate': 0.5}, {'learning_rate': 0.1}])
  assert grid.range_from_search_space(listed, 'learning_rate') == (0.1, 0.5)
  single = tuning.parse_search_space([{'learning_rate': 0.1}])
  assert grid.range_from_search_space(single, 'learning_rate') == pytest.approx((0.01, 1.0))


def test_warmup_grid_follows_the_playbook_scaled_and_capped_at_ten_percent():
  assert grid.warmup_grid(1000) == [10, 22, 46, 100]
  assert max(grid.warmup_grid(300)) == 30
  assert grid.warmup_grid(50) == [5]  # cap below 10: the one length 10% allows
  with pytest.raises(DiagnosisError, match='--steps=5 is too short for warmup'):
    grid.warmup_grid(5)
  assert grid.check_warmup_lengths([50, 10, 10], 1000) == [10, 50]
  with pytest.raises(DiagnosisError, match=r'--warmup_lengths: \[200\] outside \[1, 100\]'):
    grid.check_warmup_lengths([10, 200], 1000)


def test_base_point_takes_the_trial_point_and_applies_overrides(tmp_path):
  space = tmp_path / 'space.json'
  space.write_text(json.dumps([{'learning_rate': 0.1, 'warmup_factor': 0.05},
                               {'learning_rate': 0.2, 'warmup_factor': 0.02}]))
  point = base_point(str(space), 1, 0, parse_overrides(['warmup_factor=0', 'grad_clip=null',
                                                        'graft=adam']), 'learning_rate')
  assert point == {'learning_rate': 0.2, 'warmup_factor': 0, 'grad_clip': None,
                   'graft': 'adam'}


def test_a_point_without_the_learning_rate_says_what_it_has_and_how_to_name_it(tmp_path):
  space = tmp_path / 'space.json'
  space.write_text(json.dumps([{'lr': 0.1, 'beta': 0.9}]))
  with pytest.raises(DiagnosisError) as e:
    base_point(str(space), 0, 0, {}, 'learning_rate')
  message = str(e.value)
  assert "no hyperparameter 'learning_rate'" in message and 'it has: lr, beta' in message
  assert '--lr_name=NAME' in message
  assert base_point(str(space), 0, 0, {}, 'lr')['lr'] == 0.1


def test_bad_overrides_and_indices_name_their_flag(tmp_path):
  with pytest.raises(DiagnosisError, match='--set=.*NAME=VALUE'):
    parse_overrides(['warmup_factor'])
  space = tmp_path / 'space.json'
  space.write_text(json.dumps([{'learning_rate': 0.1}]))
  with pytest.raises(DiagnosisError, match='--hparam_index=3'):
    base_point(str(space), 3, 0, {}, 'learning_rate')
  with pytest.raises(DiagnosisError, match='--tuning_search_space'):
    base_point(str(tmp_path / 'missing.json'), 0, 0, {}, 'learning_rate')
