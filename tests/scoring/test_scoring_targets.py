"""Targets files: the shipped AlgoPerf versions, validation rules, and the builder."""

import copy
import json
import os
import sys

import pytest
from scoring_fixtures import targets_dict

from algoperf.scoring import (
    TargetsFileError,
    builtin_targets,
    load_targets,
    targets_from_workloads,
    write_targets,
)

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import toy_workload  # noqa: E402

ALGOPERF_BASE = ['criteo1tb', 'fastmri', 'imagenet_resnet', 'imagenet_vit',
                 'librispeech_conformer', 'librispeech_deepspeech', 'ogbg', 'wmt']


def test_shipped_algoperf_files_load():
  assert {'algoperf_v05', 'algoperf_v06'} <= set(builtin_targets())
  v05, v06 = load_targets('algoperf_v05'), load_targets('algoperf_v06.json')
  assert list(v05.base_workloads) == ALGOPERF_BASE == list(v06.base_workloads)
  assert len(v05.workloads) == len(v06.workloads) == 32  # 8 bases x (1 + 3 variants)
  assert v05.held_out_workloads == ('criteo1tb_embed_init', 'fastmri_tanh',
                                    'imagenet_resnet_large_bn_init',
                                    'librispeech_conformer_layernorm', 'ogbg_model_size',
                                    'wmt_glu_tanh')
  assert v06.held_out_workloads == ()
  assert (v05.rulesets['external'].num_studies, v06.rulesets['external'].num_studies) == (5, 3)
  assert (v05.rulesets['self'].budget_factor, v06.rulesets['self'].budget_factor) == (3.0, 1.5)


def test_shipped_numbers_match_algoperf_workloads():
  v05, v06 = load_targets('algoperf_v05'), load_targets('algoperf_v06')
  resnet = v06.workloads['imagenet_resnet']
  assert (resnet.metric, resnet.higher_is_better) == ('accuracy', True)
  assert resnet.validation_target == 1 - 0.22569 and resnet.test_target == 1 - 0.3440
  criteo = v05.workloads['criteo1tb_embed_init']
  assert (criteo.metric, criteo.higher_is_better, criteo.base_workload) == (
      'loss', False, 'criteo1tb')
  assert (criteo.validation_target, criteo.test_target) == (0.129657, 0.131967)
  assert v05.workloads['wmt_glu_tanh'].validation_target == 29.5779
  assert v05.budget('fastmri', 'external') == 8859 and v06.budget('fastmri', 'external') == 4430
  assert v05.budget('fastmri_tanh', 'self') == 3 * 8859
  assert v06.budget('librispeech_deepspeech_tanh', 'self') == 1.5 * 44405


def _mutations():
  def drop(key):
    return lambda d: d.pop(key)
  return {
      'schema': (lambda d: d.update(schema='other/1'), '"schema" must be'),
      'no base': (lambda d: d.update(base_workloads=[]), 'must not be empty'),
      'unknown base': (lambda d: d['base_workloads'].append('zzz'), 'missing from "workloads"'),
      'duplicate': (lambda d: d['base_workloads'].append('a'), 'lists a workload twice'),
      'missing field': (lambda d: d['workloads']['a'].pop('metric'), 'lacks required fields'),
      'bool direction': (lambda d: d['workloads']['a'].update(higher_is_better='yes'),
                         'higher_is_better must be of type'),
      'nan target': (lambda d: d['workloads']['a'].update(validation_target=float('nan')),
                     'must be a finite number'),
      'zero budget': (lambda d: d['workloads']['a'].update(max_runtime_sec=0),
                      'must be positive'),
      'split in metric': (lambda d: d['workloads']['a'].update(metric='validation/acc'),
                          'bare metric name'),
      'orphan variant': (lambda d: d['workloads']['v'].update(base_workload='v'),
                         'must name a base workload'),
      'held-out base': (lambda d: d['held_out_workloads'].append('a'), 'also a base workload'),
      'rulesets': (lambda d: d['rulesets'].pop('self'), '"rulesets" must be'),
      'studies': (lambda d: d['rulesets']['external'].update(num_studies=0),
                  'num_studies must be a positive integer'),
      'version': (drop('benchmark_version'), '"benchmark_version"'),
  }


@pytest.mark.parametrize('name', list(_mutations()))
def test_bad_file_gets_one_clear_error_naming_file_and_rule(tmp_path, name):
  mutate, rule = _mutations()[name]
  data = targets_dict({'a': {}, 'v': {'base_workload': 'a'}}, held_out=['v'])
  ok_path = tmp_path / 'ok.json'
  ok_path.write_text(json.dumps(data))
  assert load_targets(str(ok_path)).held_out_workloads == ('v',)
  bad = copy.deepcopy(data)
  mutate(bad)
  path = tmp_path / 'bad.json'
  path.write_text(json.dumps(bad))
  with pytest.raises(TargetsFileError) as error:
    load_targets(str(path))
  assert str(path) in str(error.value) and rule in str(error.value)


def test_invalid_json_and_unknown_name(tmp_path):
  path = tmp_path / 'broken.json'
  path.write_text('{"schema": ')
  with pytest.raises(TargetsFileError, match='broken.json: not valid JSON'):
    load_targets(str(path))
  with pytest.raises(TargetsFileError, match='algoperf_v05'):
    load_targets('no_such_targets')


def test_builder_reads_workload_objects_and_round_trips(tmp_path):
  base = toy_workload.ToyRegressionWorkload(validation_target=0.05, test_target=0.06,
                                            budget_sec=12.5)
  variant = toy_workload.ToyRegressionWorkload(validation_target=0.07, test_target=0.08)
  data = targets_from_workloads({'toy': base, 'toy_variant': variant}, ['toy'],
                                ['toy_variant'], version='lite-v0',
                                base_of={'toy_variant': 'toy'})
  path = tmp_path / 'targets' / 'lite_v0.json'
  write_targets(data, str(path))
  loaded = load_targets(str(path))
  toy = loaded.workloads['toy']
  assert (toy.metric, toy.higher_is_better, toy.validation_target, toy.test_target,
          toy.max_runtime_sec) == ('loss', False, 0.05, 0.06, 12.5)
  assert loaded.base_of('toy_variant') == 'toy' and loaded.version == 'lite-v0'
  assert loaded.rulesets['external'].num_studies == 3  # v0.6 defaults


def test_builder_needs_a_base_for_each_variant():
  toy = toy_workload.ToyRegressionWorkload()
  with pytest.raises(ValueError, match="'orphan' is not a base workload"):
    targets_from_workloads({'toy': toy, 'orphan': toy}, ['toy'], version='x')
