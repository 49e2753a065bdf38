"""The rule SWA, FGE and snapshot ensembles run under their own learning-rate schedules.

It is the nadamw baseline's NAdamW with the same hyperparameters, so their fixed points
start from NAdamW's tuned ones and the comparison isolates the schedule and the averaging
or ensembling.
"""

from __future__ import annotations

import optax


def nadamw(hp, learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
  """NAdamW (decoupled weight decay scaled by the rate) as reference_algorithms/nadamw."""
  return optax.nadamw(learning_rate=learning_rate, b1=1.0 - hp.one_minus_beta1, b2=hp.beta2,
                      eps=1e-8, weight_decay=hp.weight_decay)
