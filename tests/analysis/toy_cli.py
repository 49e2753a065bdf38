"""analyze_runs.py with the analysis tests' toy workload registered as `toy`: the CLI's
seed-rerun mode looks workloads up in workloads.registry. Run as a script, never imported
(analyze_runs defines absl flags)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(os.path.dirname(HERE))]

from absl import app  # noqa: E402

import analyze_runs  # noqa: E402
from workloads import registry  # noqa: E402

registry._WORKLOADS['toy'] = ('analysis_fixtures:ToyWorkload', None)

if __name__ == '__main__':
  app.run(analyze_runs.main)
