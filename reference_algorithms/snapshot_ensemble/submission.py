"""Snapshot Ensembles (Huang et al. 2017) on NAdamW.

`ensemble_size` = M cycles of cosine annealing from η to 0 with warm restarts split the
step hint (`optax.sgdr_schedule` with equal cycles; NAdamW's linear warmup opens the
first); the params and model state at each cycle's end are a snapshot, and
`prepare_for_eval` returns the last M snapshots as one ensemble, the newest last (the
runner also reports it alone). Training continues from the params it had; past the hint
the cycles go on and newer snapshots replace older ones.
"""

import optax

from reference_algorithms.common import (
  base_optimizer,
  cyclic,
  eval_plans,
  schedules,
  submission_lib,
)
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)

DEFAULTS = {'ensemble_size': 5}


def snapshot_cycles(hp, step_hint: int) -> cyclic.Cycles:
  """M equal cycles over the step hint, each harvested at its last step."""
  members = cyclic.ensemble_size(hp.ensemble_size)
  warmup = schedules.warmup_length(hp, step_hint)
  length = step_hint // members
  shortest = max(cyclic.MIN_CYCLE_STEPS, warmup + 1)
  if length < shortest:
    raise ValueError(
        f'ensemble_size={members} is more cosine cycles than fit the budget: the step hint '
        f'{step_hint} gives each {length} steps, and a cycle needs at least {shortest} (2, '
        f'and more than the {warmup}-step warmup); at most {step_hint // shortest} fit.')
  return cyclic.Cycles(0, length, harvest_offset=length - 1)


def learning_rate(hp, step_hint: int) -> optax.Schedule:
  cycles = snapshot_cycles(hp, step_hint)
  return cyclic.cosine_restarts(hp.learning_rate, cycles.length,
                                schedules.warmup_length(hp, step_hint))


def build_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
  return base_optimizer.nadamw(hp, learning_rate(hp, step_hint))


build_eval_plan = eval_plans.ensemble_of_cycles(snapshot_cycles)


init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, defaults=DEFAULTS, build_eval_plan=build_eval_plan)
