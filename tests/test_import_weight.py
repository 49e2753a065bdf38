"""Importing the suite, the runner, the registry or a workload stays light: no pandas or
matplotlib (the scorer's), which once made every workload import take seconds."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ('pandas', 'matplotlib')

# Imports the modules one by one and names the first that pulls in each heavy module.
_PROBE = """
import importlib, json, sys
pulled, imported = {}, []
def check(module):
  imported.append(module)
  for heavy in sys.argv[1:]:
    if heavy in sys.modules and heavy not in pulled:
      pulled[heavy] = module
for module in ('algoperf.suite', 'algoperf.runner', 'workloads.registry'):
  importlib.import_module(module)
  check(module)
from algoperf import suite
from workloads import registry
for workload in suite.load_suite().workloads:  # The lite suite's workloads.
  check(registry.workload_class(workload).__module__)  # Imports the workload's module.
print(json.dumps({'modules': sorted(set(imported)), 'pulled': pulled}))
"""


def test_suite_runner_and_workloads_do_not_import_pandas_or_matplotlib():
  proc = subprocess.run([sys.executable, '-c', _PROBE, *HEAVY], cwd=ROOT, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  result = json.loads(proc.stdout.splitlines()[-1])
  assert len(result['modules']) > 3  # The lite workloads' modules were found and imported.
  assert result['pulled'] == {}, f'first module importing each: {result["pulled"]}'
