"""Workloads for `runner_overhead.py` with periodic evals off (only after step 1 and at the
end). A module of its own so that a trial process can unpickle the factory by reference."""

from workloads import registry


def without_evals(name: str):
  workload = registry.get_workload(name)
  workload.EVAL_PERIOD_SEC = 1e9
  return workload
