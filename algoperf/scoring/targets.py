"""Versioned targets files: what each workload must reach, in what budget, in which benchmark.

Targets are data, not code: the scorer never guesses a metric's direction from its name.
One JSON file freezes one benchmark version (schema in docs/scoring.md):

  {
    "schema": "algoperf-scoring-targets/1",
    "benchmark_version": "algoperf-v0.5",
    "sources": ["where the numbers come from", ...],
    "rulesets": {"external": {"num_studies": 5, "trials_per_study": 5, "budget_factor": 1.0},
                 "self": {"num_studies": 5, "trials_per_study": 1, "budget_factor": 3.0}},
    "base_workloads": ["criteo1tb", ...],
    "held_out_workloads": ["criteo1tb_embed_init", ...],
    "workloads": {"criteo1tb": {"metric": "loss", "higher_is_better": false,
                                "validation_target": 0.123735, "test_target": 0.126041,
                                "max_runtime_sec": 7703, "base_workload": "criteo1tb"}, ...}
  }
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

# The schema and reader live in a leaf module (no pandas/matplotlib), so the suite and the
# workloads can read targets files without importing the scorer; re-exported here.
from algoperf.targets_schema import (  # noqa: F401
    DEFAULT_RULESETS,
    RULESETS,
    SCHEMA,
    TARGETS_DIR,
    BenchmarkTargets,
    RulesetCounts,
    TargetsFileError,
    WorkloadTarget,
    builtin_targets,
    load_targets,
    resolve_targets_path,
    targets_from_dict,
    validate_targets,
)


def targets_from_workloads(workloads: Mapping[str, Any], base_workloads: Iterable[str],
                           held_out_workloads: Iterable[str] = (), *, version: str,
                           base_of: Mapping[str, str] | None = None,
                           rulesets: Mapping[str, Mapping[str, Any]] | None = None,
                           sources: Iterable[str] = ()) -> dict[str, Any]:
  """A targets-file dict built from Workload objects, so their numbers live in one place.

  Reads only `target_metric_name`, `target_metric_higher_is_better` (True when absent, as in
  AlgoPerf), `validation_target_value`, `test_target_value` and `max_allowed_runtime_sec`.
  Variants (workloads not in `base_workloads`) need their base in `base_of`.
  """
  base_workloads = list(base_workloads)
  base_of = dict(base_of or {})
  entries = {}
  for name, workload in workloads.items():
    parent = name if name in base_workloads else base_of.get(name)
    if parent is None:
      raise ValueError(f'workload {name!r} is not a base workload; give its base in `base_of`')
    entries[name] = {
        'metric': workload.target_metric_name,
        'higher_is_better': bool(getattr(workload, 'target_metric_higher_is_better', True)),
        'validation_target': float(workload.validation_target_value),
        'test_target': float(workload.test_target_value),
        'max_runtime_sec': float(workload.max_allowed_runtime_sec),
        'base_workload': parent,
    }
  data = {
      'schema': SCHEMA,
      'benchmark_version': version,
      'sources': list(sources) or ['generated from the workload registry'],
      'rulesets': {k: dict(v) for k, v in (rulesets or DEFAULT_RULESETS).items()},
      'base_workloads': base_workloads,
      'held_out_workloads': list(held_out_workloads),
      'workloads': entries,
  }
  validate_targets(data, f'<targets for {version}>')
  return data


def write_targets(data: Mapping[str, Any], path: str) -> None:
  """Validate, then write a targets file (2-space JSON, trailing newline)."""
  validate_targets(data, path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(data, f, indent=2)
    f.write('\n')
