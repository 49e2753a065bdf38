"""The targets-file schema and its reader: a leaf module, so light to import.

The suite (and every workload, through it) and the scorer read the same files; keeping the
schema here, apart from `algoperf.scoring` and its pandas/matplotlib, lets a workload or
`algoperf.suite` load in a fraction of a second. `algoperf.scoring.targets` re-exports it.
The schema is documented in docs/scoring.md and in algoperf/scoring/targets.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

SCHEMA = 'algoperf-scoring-targets/1'
RULESETS = ('external', 'self')
TARGETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'scoring',
                           'targets')
# Study/trial counts and budget factors of AlgoPerf v0.6; the default for project files.
DEFAULT_RULESETS = {
    'external': {'num_studies': 3, 'trials_per_study': 5, 'budget_factor': 1.0},
    'self': {'num_studies': 3, 'trials_per_study': 1, 'budget_factor': 1.5},
}
_WORKLOAD_FIELDS = {
    'metric': str,
    'higher_is_better': bool,
    'validation_target': (int, float),
    'test_target': (int, float),
    'max_runtime_sec': (int, float),
    'base_workload': str,
}


class TargetsFileError(ValueError):
  """A targets file breaks a rule of the schema; the message names the file and the rule."""


@dataclasses.dataclass(frozen=True)
class WorkloadTarget:
  """One workload's target metric, its direction, targets and budget."""
  name: str
  metric: str
  higher_is_better: bool
  validation_target: float
  test_target: float
  max_runtime_sec: float
  base_workload: str

  def column(self, split: str) -> str:
    return f'{split}/{self.metric}'

  def target(self, split: str) -> float:
    return self.validation_target if split == 'validation' else self.test_target

  def meets(self, values, split: str) -> np.ndarray:
    """Elementwise: the value meets the split's target (>= or <=); NaN and +-inf never do
    (an infinite metric is a corrupt or diverged log, never a result)."""
    values = np.asarray(values, dtype=float)
    target = self.target(split)
    with np.errstate(invalid='ignore'):
      meets = values >= target if self.higher_is_better else values <= target
    return meets & np.isfinite(values)


@dataclasses.dataclass(frozen=True)
class RulesetCounts:
  """How many studies and trials a ruleset runs, and its budget multiplier."""
  num_studies: int
  trials_per_study: int
  budget_factor: float


@dataclasses.dataclass(frozen=True)
class BenchmarkTargets:
  """A validated targets file."""
  version: str
  source: str
  workloads: Mapping[str, WorkloadTarget]
  base_workloads: tuple[str, ...]
  held_out_workloads: tuple[str, ...]
  rulesets: Mapping[str, RulesetCounts]

  def budget(self, workload: str, ruleset: str) -> float:
    """Submission-time budget of one trial under a ruleset, in seconds."""
    return self.workloads[workload].max_runtime_sec * self.rulesets[ruleset].budget_factor

  def base_of(self, workload: str) -> str:
    return self.workloads[workload].base_workload


def _fail(source: str, rule: str):
  raise TargetsFileError(f'{source}: {rule}')


def _check_names(source: str, key: str, names: Any, workloads: Mapping[str, Any]) -> None:
  if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
    _fail(source, f'"{key}" must be a list of workload names')
  if len(set(names)) != len(names):
    _fail(source, f'"{key}" lists a workload twice')
  unknown = [n for n in names if n not in workloads]
  if unknown:
    _fail(source, f'"{key}" names workloads missing from "workloads": {unknown}')


def _check_workload(source: str, name: str, entry: Any) -> None:
  where = f'workloads.{name}'
  if not isinstance(entry, dict):
    _fail(source, f'{where} must be an object')
  missing = [f for f in _WORKLOAD_FIELDS if f not in entry]
  if missing:
    _fail(source, f'{where} lacks required fields {missing}')
  for field, kind in _WORKLOAD_FIELDS.items():
    value = entry[field]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
      _fail(source, f'{where}.{field} must be of type {kind}')
  for field in ('validation_target', 'test_target', 'max_runtime_sec'):
    if not math.isfinite(entry[field]):
      _fail(source, f'{where}.{field} must be a finite number')
  if entry['max_runtime_sec'] <= 0:
    _fail(source, f'{where}.max_runtime_sec must be positive')
  if not entry['metric'] or '/' in entry['metric']:
    _fail(source, f'{where}.metric must be a bare metric name such as "accuracy"')


def _check_rulesets(source: str, rulesets: Any) -> None:
  if not isinstance(rulesets, dict) or set(rulesets) != set(RULESETS):
    _fail(source, f'"rulesets" must be an object with exactly the keys {list(RULESETS)}')
  for name, counts in rulesets.items():
    if not isinstance(counts, dict):
      _fail(source, f'rulesets.{name} must be an object')
    for field in ('num_studies', 'trials_per_study'):
      value = counts.get(field)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        _fail(source, f'rulesets.{name}.{field} must be a positive integer')
    factor = counts.get('budget_factor')
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not factor > 0:
      _fail(source, f'rulesets.{name}.budget_factor must be a positive number')


def validate_targets(data: Any, source: str = '<targets>') -> None:
  """Raise TargetsFileError naming `source` and the first broken rule."""
  if not isinstance(data, dict):
    _fail(source, 'the file must hold one JSON object')
  if data.get('schema') != SCHEMA:
    _fail(source, f'"schema" must be "{SCHEMA}" (got {data.get("schema")!r})')
  if not isinstance(data.get('benchmark_version'), str) or not data['benchmark_version']:
    _fail(source, '"benchmark_version" must be a non-empty string')
  sources = data.get('sources', [])
  if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
    _fail(source, '"sources" must be a list of strings')
  workloads = data.get('workloads')
  if not isinstance(workloads, dict) or not workloads:
    _fail(source, '"workloads" must be a non-empty object keyed by workload name')
  for name, entry in workloads.items():
    _check_workload(source, name, entry)
  _check_rulesets(source, data.get('rulesets'))
  _check_names(source, 'base_workloads', data.get('base_workloads'), workloads)
  _check_names(source, 'held_out_workloads', data.get('held_out_workloads', []), workloads)
  base = data['base_workloads']
  if not base:
    _fail(source, '"base_workloads" must not be empty')
  for name, entry in workloads.items():
    parent = entry['base_workload']
    if name in base and parent != name:
      _fail(source, f'workloads.{name} is a base workload, so its base_workload must be itself')
    if name not in base and parent not in base:
      _fail(source, f'workloads.{name}.base_workload must name a base workload (got {parent!r})')
  for name in data.get('held_out_workloads', []):
    if name in base:
      _fail(source, f'held-out workload {name!r} is also a base workload')


def targets_from_dict(data: Mapping[str, Any], source: str = '<targets>') -> BenchmarkTargets:
  validate_targets(data, source)
  workloads = {
      name: WorkloadTarget(name=name, metric=e['metric'], higher_is_better=e['higher_is_better'],
                           validation_target=float(e['validation_target']),
                           test_target=float(e['test_target']),
                           max_runtime_sec=float(e['max_runtime_sec']),
                           base_workload=e['base_workload'])
      for name, e in data['workloads'].items()
  }
  rulesets = {name: RulesetCounts(c['num_studies'], c['trials_per_study'],
                                  float(c['budget_factor']))
              for name, c in data['rulesets'].items()}
  return BenchmarkTargets(version=data['benchmark_version'], source=source, workloads=workloads,
                          base_workloads=tuple(data['base_workloads']),
                          held_out_workloads=tuple(data.get('held_out_workloads', [])),
                          rulesets=rulesets)


def builtin_targets() -> list[str]:
  """Names of the targets files shipped in algoperf/scoring/targets/."""
  if not os.path.isdir(TARGETS_DIR):
    return []
  return sorted(f[:-len('.json')] for f in os.listdir(TARGETS_DIR) if f.endswith('.json'))


def resolve_targets_path(name_or_path: str) -> str:
  """A path as given, or the shipped file of that name (with or without `.json`)."""
  if os.path.isfile(name_or_path):
    return name_or_path
  stem = name_or_path[:-len('.json')] if name_or_path.endswith('.json') else name_or_path
  shipped = os.path.join(TARGETS_DIR, f'{stem}.json')
  if os.path.isfile(shipped):
    return shipped
  raise TargetsFileError(f'{name_or_path}: no such targets file; give a path or one of the '
                         f'shipped files {builtin_targets()}')


def read_targets_file(name_or_path: str) -> tuple[str, Any]:
  """(path, decoded JSON) of a shipped targets file by name, or of a file by path."""
  path = resolve_targets_path(name_or_path)
  try:
    with open(path) as f:
      return path, json.load(f)
  except json.JSONDecodeError as e:
    raise TargetsFileError(f'{path}: not valid JSON ({e})') from e


def load_targets(name_or_path: str) -> BenchmarkTargets:
  path, data = read_targets_file(name_or_path)
  return targets_from_dict(data, path)
