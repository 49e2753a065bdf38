"""Instruments: Cockpit's quantities (Schneider et al. 2021) computed in JAX on tracked steps.

    from algoperf import instruments
    names = instruments.resolve('economy')            # or 'loss,grad_norm,alpha'
    schedule = instruments.parse_schedule('linear:4')  # schedule(step) -> bool
    schedule.check(max_steps)                          # raises if it tracks no step
    loss_fn = instruments.per_example_loss_fn(workload, model_state)   # eval mode
    computer = instruments.Instruments(names, loss_fn, max_chunk_bytes=...)
    computer.check(params, batch, model_state)         # optional: errors before compiling
    obs = computer.observe(params_before, params_after, initial_params, batch, rng,
                           learning_rate=None, model_state=model_state)
    obs.scalars, obs.arrays, obs.notes; computer.forward_mode_note, computer.method_note

Definitions: `quantities.py` (one docstring per quantity) and docs/instruments.md.
"""

from algoperf.instruments.per_example import WorkloadPerExampleLoss, per_example_loss_fn
from algoperf.instruments.quantities import (
                                             BUSINESS,
                                             ECONOMY,
                                             FULL,
                                             QUANTITIES,
                                             SETS,
                                             Instruments,
                                             Observation,
                                             definitions,
                                             resolve,
)
from algoperf.instruments.schedules import Linear, Logarithmic, Schedule, parse_schedule

__all__ = [
    'BUSINESS', 'ECONOMY', 'FULL', 'QUANTITIES', 'SETS', 'Instruments', 'Linear',
    'Logarithmic', 'Observation', 'Schedule', 'WorkloadPerExampleLoss', 'definitions',
    'parse_schedule', 'per_example_loss_fn', 'resolve',
]
