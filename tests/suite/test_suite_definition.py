"""The shipped suite definition: valid, complete, and the single source of its numbers."""

import json
import os

import pytest

from algoperf import suite as suite_lib
from workloads import registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = suite_lib.load_suite(suite_lib.LITE)


def test_suite_has_a_version_and_base_workloads_with_variants():
  assert SUITE.name == 'lite' and SUITE.version and SUITE.benchmark_version == 'lite_v1'
  assert len(SUITE.base_workloads) >= 2
  for base in SUITE.base_workloads:
    assert any(SUITE.entry(v).base_workload == base for v in SUITE.variants), base


@pytest.mark.parametrize('name', sorted(SUITE.workloads))
def test_registered_workload_uses_the_suite_numbers(name):
  entry = SUITE.entry(name)
  workload = registry.get_workload(name)
  assert registry.base_workload_name(name) == entry.base_workload
  assert workload.target_metric_name == entry.metric
  assert bool(workload.target_metric_higher_is_better) == entry.higher_is_better
  assert workload.validation_target_value == entry.validation_target
  assert workload.test_target_value == entry.test_target
  assert workload.max_allowed_runtime_sec == entry.budget_sec
  assert workload.eval_period_time_sec == entry.eval_period_sec
  assert workload.step_hint == entry.step_hint
  assert entry.eval_period_sec < entry.budget_sec


@pytest.mark.parametrize('name', sorted(n for n, e in SUITE.workloads.items() if e.calibration))
def test_calibration_record_matches_the_suite(name):
  entry = SUITE.entry(name)
  with open(os.path.join(ROOT, entry.calibration)) as f:
    record = json.load(f)
  assert record['workload'] == name
  assert record['validation_target'] == entry.validation_target
  assert record['test_target'] == entry.test_target
  assert record['max_allowed_runtime_sec'] == entry.budget_sec
  assert record['step_hint'] == entry.step_hint
  assert record['machine']['cpu_count'] >= 1


def test_select_checks_names_and_adds_variants():
  assert SUITE.select() == list(SUITE.base_workloads)
  assert SUITE.select(include_variants=True) == list(SUITE.base_workloads) + list(
      SUITE.variants)
  assert SUITE.select(['mnist1d']) == ['mnist1d']
  assert SUITE.select(['variants']) == list(SUITE.variants)
  assert SUITE.select(['mnist1d_gelu', 'base']) == ['mnist1d_gelu'] + list(SUITE.base_workloads)
  with pytest.raises(suite_lib.SuiteError, match='no workload'):
    SUITE.select(['imagenet'])


def _shipped_dict():
  with open(SUITE.path) as f:
    return json.load(f)


def test_broken_definitions_are_one_clear_error():
  data = _shipped_dict()
  del data['suite']
  with pytest.raises(suite_lib.SuiteError, match='needs a "suite" object'):
    suite_lib.suite_from_dict(data, 'x.json')
  data = _shipped_dict()
  data['workloads']['mnist1d']['step_hint'] = 0
  with pytest.raises(suite_lib.SuiteError, match=r'x.json: workloads.mnist1d.step_hint'):
    suite_lib.suite_from_dict(data, 'x.json')
  data = _shipped_dict()
  data['suite']['default_run']['num_trials'] = 3
  with pytest.raises(suite_lib.SuiteError, match='unknown keys'):
    suite_lib.suite_from_dict(data, 'x.json')
  data = _shipped_dict()
  del data['workloads']['mnist1d']['validation_target']
  with pytest.raises(suite_lib.SuiteError, match='lacks required fields'):
    suite_lib.suite_from_dict(data, 'x.json')


def test_update_workload_rewrites_one_entry_and_refuses_bad_values(tmp_path):
  path = tmp_path / 'suite.json'
  path.write_text(json.dumps(_shipped_dict()))
  suite_lib.update_workload(str(path), 'mnist1d', validation_target=0.5, step_hint=123)
  updated = suite_lib.load_suite(str(path))
  assert updated.entry('mnist1d').validation_target == 0.5
  assert updated.entry('mnist1d').step_hint == 123
  assert updated.entry('fashion_mnist') == SUITE.entry('fashion_mnist')
  with pytest.raises(suite_lib.SuiteError):
    suite_lib.update_workload(str(path), 'mnist1d', step_hint=-1)
  assert suite_lib.load_suite(str(path)).entry('mnist1d').step_hint == 123
