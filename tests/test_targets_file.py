"""The shipped lite targets file is the one the workload registry generates."""

import json

from algoperf import scoring
from workloads import targets_file


def test_shipped_targets_file_is_current():
  with open(targets_file.PATH) as f:
    shipped = json.load(f)
  assert shipped == json.loads(json.dumps(targets_file.build())), (
      'Regenerate with `python -m workloads.targets_file`.')


def test_shipped_targets_file_loads_by_name():
  targets = scoring.load_targets('lite_v0')
  assert set(targets_file.WORKLOADS) <= set(targets.workloads)
