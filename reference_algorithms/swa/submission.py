"""Stochastic Weight Averaging (Izmailov et al. 2018) on NAdamW.

NAdamW with linear warmup and cosine decay until `swa_start_fraction` of the step hint,
ending at the SWA rate; from there either a constant rate α₂ = swa_lr_ratio·η
(swa_cycle_lr_factor = 1) or cycles of `swa_cycle_fraction` of the hint falling linearly
from α₁ = swa_cycle_lr_factor·α₂ to α₂. At the end of every cycle the params join an
equal-weight running average. `prepare_for_eval` returns that average, with batch-norm
statistics recomputed for it on the last train batches (billed); training continues from
the NAdamW iterate, which the optimizer state carries (common/eval_point.py).
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

# The method's knobs where a search space leaves them out (README: why these values).
DEFAULTS = {'swa_start_fraction': 0.75, 'swa_lr_ratio': 0.2, 'swa_cycle_fraction': 0.005,
            'swa_cycle_lr_factor': 1.0}


def averaging_cycles(hp, step_hint: int) -> cyclic.Cycles:
  """Cycles from the SWA start to the end of training; the average takes each one's end."""
  start = int(hp.swa_start_fraction * step_hint)
  warmup = schedules.warmup_length(hp, step_hint)
  if not 0 < hp.swa_start_fraction < 1 or start < warmup:
    raise ValueError(
        f'swa_start_fraction={hp.swa_start_fraction} starts averaging at step {start} of the '
        f'step hint {step_hint}; it must be in (0, 1) and after the {warmup}-step warmup.')
  if hp.swa_cycle_lr_factor < 1:
    raise ValueError(f'swa_cycle_lr_factor must be >= 1 (1: a constant rate), got '
                     f'{hp.swa_cycle_lr_factor!r}')
  length = cyclic.fraction_of(step_hint, hp.swa_cycle_fraction, 'swa_cycle_fraction', 1)
  return cyclic.Cycles(start, length, harvest_offset=length - 1)


def learning_rate(hp, step_hint: int) -> optax.Schedule:
  cycles = averaging_cycles(hp, step_hint)
  low = hp.swa_lr_ratio * hp.learning_rate
  high = hp.swa_cycle_lr_factor * low
  warm = schedules.warmup_cosine_steps(hp.learning_rate, schedules.warmup_length(hp, step_hint),
                                       cycles.start, end_value=high)
  return cyclic.after_warm_start(warm, cycles, cyclic.sawtooth(high, low, cycles.length))


def build_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
  return base_optimizer.nadamw(hp, learning_rate(hp, step_hint))


def build_eval_plan(hp, workload, model_state):
  return eval_plans.averaged(averaging_cycles(hp, workload.step_hint).is_harvest, workload,
                             model_state)


init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, defaults=DEFAULTS, build_eval_plan=build_eval_plan)
