"""Fast Geometric Ensembling (Garipov et al. 2018) on NAdamW.

A warm start (NAdamW, linear warmup and cosine decay to α₁ = fge_lr1_ratio·η), then
`ensemble_size` triangular cycles α₁ → α₂ → α₁ (α₂ = fge_lr2_ratio·η) of
`fge_cycle_fraction` of the step hint each, filling the end of the hint; the params and
model state at each cycle's low point are a snapshot, and `prepare_for_eval` returns the
last `ensemble_size` snapshots as one ensemble (the newest last). Training continues from
the params it had; past the hint the cycles go on and newer snapshots replace older ones.
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

DEFAULTS = {'ensemble_size': 5, 'fge_cycle_fraction': 0.02, 'fge_lr1_ratio': 0.2,
            'fge_lr2_ratio': 0.002}


def fge_cycles(hp, step_hint: int) -> cyclic.Cycles:
  """`ensemble_size` cycles ending at the step hint, each harvested at its low point."""
  members = cyclic.ensemble_size(hp.ensemble_size)
  length = cyclic.fraction_of(step_hint, hp.fge_cycle_fraction, 'fge_cycle_fraction',
                              cyclic.MIN_CYCLE_STEPS)
  warmup = schedules.warmup_length(hp, step_hint)
  fit = max(step_hint - warmup, 0) // length
  if members > fit:
    raise ValueError(
        f'ensemble_size={members} is more FGE cycles than fit the budget: cycles of {length} '
        f'steps (fge_cycle_fraction={hp.fge_cycle_fraction} of the step hint {step_hint}) '
        f'after the {warmup}-step warmup leave room for {fit}; lower ensemble_size or '
        'fge_cycle_fraction.')
  return cyclic.Cycles(step_hint - members * length, length, harvest_offset=length // 2)


def learning_rate(hp, step_hint: int) -> optax.Schedule:
  cycles = fge_cycles(hp, step_hint)
  high, low = hp.fge_lr1_ratio * hp.learning_rate, hp.fge_lr2_ratio * hp.learning_rate
  warm = schedules.warmup_cosine_steps(hp.learning_rate, schedules.warmup_length(hp, step_hint),
                                       cycles.start, end_value=high)
  return cyclic.after_warm_start(warm, cycles, cyclic.triangle(high, low, cycles.length))


def build_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
  return base_optimizer.nadamw(hp, learning_rate(hp, step_hint))


build_eval_plan = eval_plans.ensemble_of_cycles(fge_cycles)


init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, defaults=DEFAULTS, build_eval_plan=build_eval_plan)
