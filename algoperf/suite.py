"""A benchmark suite: one versioned JSON definition of workloads, targets and budgets.

The definition is a scoring targets file (schema in docs/scoring.md) with a `suite` block
and a few more fields per workload, so the scorer reads the very file the runner trains
against:

  {"schema": "algoperf-scoring-targets/1", "benchmark_version": "lite_v1",
   "suite": {"name": "lite", "version": "1", "description": "...",
             "default_run": {"tuning_ruleset": "external", "num_tuning_trials": 1,
                             "num_studies": 1}},
   "rulesets": {...}, "base_workloads": [...], "held_out_workloads": [],
   "workloads": {"mnist1d": {"metric": "accuracy", "higher_is_better": true,
                             "validation_target": 0.9267, "test_target": 0.9174,
                             "max_runtime_sec": 90.0, "base_workload": "mnist1d",
                             "eval_period_sec": 5.0, "step_hint": 43110,
                             "calibration": "benchmarks/calibration/mnist1d.json"}, ...}}

Workload classes take their targets, budget, eval period and step hint from here
(`workloads.common.suite_constants`), and `benchmarks/calibrate_targets.py` writes here.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
from collections.abc import Mapping, Sequence
from typing import Any

# The schema module, not algoperf.scoring: workloads import this, and must not load pandas.
from algoperf import targets_schema as targets_lib

LITE = 'lite_v1'
_SUITE_FIELDS = {'eval_period_sec': (int, float), 'step_hint': int}
DEFAULT_RUN_KEYS = ('tuning_ruleset', 'num_tuning_trials', 'num_studies')


class SuiteError(ValueError):
  """The suite definition breaks a rule; the message names the file and the rule."""


@dataclasses.dataclass(frozen=True)
class SuiteWorkload:
  """One workload's calibrated constants as the suite defines them."""
  name: str
  base_workload: str
  metric: str
  higher_is_better: bool
  validation_target: float
  test_target: float
  budget_sec: float
  eval_period_sec: float
  step_hint: int
  calibration: str | None

  @property
  def is_variant(self) -> bool:
    return self.name != self.base_workload

  @property
  def target_text(self) -> str:
    """The validation target as people read it, e.g. 'accuracy ≥ 0.9367'."""
    return f'{self.metric} {"≥" if self.higher_is_better else "≤"} {self.validation_target}'


@dataclasses.dataclass(frozen=True)
class Suite:
  """A validated suite definition."""
  name: str
  version: str
  benchmark_version: str
  description: str
  path: str
  workloads: Mapping[str, SuiteWorkload]
  base_workloads: tuple[str, ...]
  default_run: Mapping[str, Any]
  targets: targets_lib.BenchmarkTargets

  @property
  def variants(self) -> tuple[str, ...]:
    return tuple(n for n in self.workloads if n not in self.base_workloads)

  def entry(self, name: str) -> SuiteWorkload:
    if name not in self.workloads:
      raise SuiteError(f'{self.path}: the suite has no workload {name!r}; it has '
                       f'{sorted(self.workloads)}')
    return self.workloads[name]

  def select(self, names: list[str] | None = None, include_variants: bool = False
             ) -> list[str]:
    """The workloads to run: `names` (checked; "base" and "variants" stand for those
    groups) or the base workloads (+ their variants)."""
    if not names:
      names = ['base', 'variants'] if include_variants else ['base']
    groups = {'base': self.base_workloads, 'variants': self.variants}
    chosen = []
    for name in names:
      for workload in groups[name] if name in groups else (self.entry(name).name,):
        if workload not in chosen:
          chosen.append(workload)
    return chosen


def _fail(path: str, rule: str):
  raise SuiteError(f'{path}: {rule}')


def suite_from_dict(data: Mapping[str, Any], path: str) -> Suite:
  try:
    targets = targets_lib.targets_from_dict(data, path)
  except targets_lib.TargetsFileError as e:
    raise SuiteError(str(e)) from e
  block = data.get('suite')
  if not isinstance(block, dict):
    _fail(path, 'a suite definition needs a "suite" object (name, version, default_run)')
  for key in ('name', 'version'):
    if not isinstance(block.get(key), str) or not block[key]:
      _fail(path, f'suite.{key} must be a non-empty string')
  default_run = block.get('default_run', {})
  unknown = set(default_run) - set(DEFAULT_RUN_KEYS)
  if unknown:
    _fail(path, f'suite.default_run has unknown keys {sorted(unknown)}; allowed: '
          f'{list(DEFAULT_RUN_KEYS)}')
  workloads = {}
  for name, entry in data['workloads'].items():
    for field, kind in _SUITE_FIELDS.items():
      value = entry.get(field)
      if not isinstance(value, kind) or isinstance(value, bool) or not value > 0:
        _fail(path, f'workloads.{name}.{field} must be a positive number')
    target = targets.workloads[name]
    workloads[name] = SuiteWorkload(
        name=name, base_workload=target.base_workload, metric=target.metric,
        higher_is_better=target.higher_is_better,
        validation_target=target.validation_target, test_target=target.test_target,
        budget_sec=target.max_runtime_sec, eval_period_sec=float(entry['eval_period_sec']),
        step_hint=int(entry['step_hint']), calibration=entry.get('calibration'))
  return Suite(name=block['name'], version=block['version'],
               benchmark_version=targets.version, description=block.get('description', ''),
               path=path, workloads=workloads, base_workloads=targets.base_workloads,
               default_run=dict(default_run), targets=targets)


def load_suite(name_or_path: str = LITE) -> Suite:
  """A shipped suite by name (`lite_v1`) or a definition file by path."""
  try:
    path, data = targets_lib.read_targets_file(name_or_path)
  except targets_lib.TargetsFileError as e:
    raise SuiteError(str(e)) from e
  return suite_from_dict(data, path)


TARGET_STATISTIC = 'worst over seeds of the best value'


def targets_from_runs(runs: Sequence[Mapping[str, float]],
                      higher_is_better: bool) -> tuple[float, float]:
  """(validation, test) targets from repeated calibration runs of a tuned baseline.

  Each run gives its best validation and test value; the target is the worst of them, a
  value every run reached. AlgoPerf takes the median, but lite suites are scored on few
  trials, and with median targets the tuned point itself misses about half of the time.
  """
  worst = min if higher_is_better else max
  # Rounded to 4 decimals towards the easy side, so the worst run still reaches it.
  rounding = decimal.ROUND_FLOOR if higher_is_better else decimal.ROUND_CEILING

  def target(key):
    value = decimal.Decimal(repr(worst(r[key] for r in runs)))
    return float(value.quantize(decimal.Decimal('0.0001'), rounding=rounding))
  return target('best_validation'), target('best_test')


def update_workload(path: str, name: str, **values: Any) -> None:
  """Rewrite one workload's fields in a definition file (used by target calibration)."""
  with open(path) as f:
    data = json.load(f)
  if name not in data['workloads']:
    raise SuiteError(f'{path}: no workload {name!r} to update')
  data['workloads'][name].update(values)
  suite_from_dict(data, path)  # Never write a file that would not load.
  with open(path, 'w') as f:
    json.dump(data, f, indent=2)
    f.write('\n')
