"""The update rules of the Deep Learning Tuning Playbook, each as one Optax transformation.

Every function returns the full step (learning rate and sign included), so schedules and
weight decay compose around it (docs/update_rules.md). Optax is used wherever it
implements the rule exactly:

* SGD, heavy-ball Momentum, Nesterov: `optax.sgd` (its `trace` is v ← γv + g, and with
  nesterov=True the step is γ·v_{t+1} + g).
* RMSProp: `optax.rmsprop` with initial_scale=1 (v_0 = 1), eps_in_sqrt=True and momentum
  applied after the learning rate (momentum on the scaled step).
* Adam, NAdam: `transforms.scale_by_playbook_adam` (Optax's eps is bias-corrected).
"""

from __future__ import annotations

from collections.abc import Callable

import optax

from reference_algorithms.common import optax_compat, schedules, transforms


def sgd(learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
  return optax.sgd(learning_rate)


def momentum(learning_rate: optax.ScalarOrSchedule, gamma: float) -> optax.GradientTransformation:
  return optax.sgd(learning_rate, momentum=gamma, nesterov=False)


def nesterov(learning_rate: optax.ScalarOrSchedule, gamma: float) -> optax.GradientTransformation:
  return optax.sgd(learning_rate, momentum=gamma, nesterov=True)


def rmsprop(learning_rate: optax.ScalarOrSchedule, rho: float, gamma: float,
            eps: float) -> optax.GradientTransformation:
  return optax.rmsprop(learning_rate, decay=rho, eps=eps, initial_scale=1.0,
                       momentum=gamma, nesterov=False, **optax_compat.RMSPROP_EPS_IN_SQRT)


def adam(learning_rate: optax.ScalarOrSchedule, b1: float, b2: float,
         eps: float) -> optax.GradientTransformation:
  return optax.chain(transforms.scale_by_playbook_adam(b1, b2, eps),
                     optax.scale_by_learning_rate(learning_rate))


def nadam(learning_rate: optax.ScalarOrSchedule, b1: float, b2: float,
          eps: float) -> optax.GradientTransformation:
  return optax.chain(transforms.scale_by_playbook_adam(b1, b2, eps, nesterov=True),
                     optax.scale_by_learning_rate(learning_rate))


Rule = Callable[[optax.Schedule, object], optax.GradientTransformation]


def build_with_schedule(rule: Rule):
  """`build_optimizer` for a playbook baseline: warmup+cosine η_t, rule, decoupled decay.

  `rule(schedule, hp)` picks the rule's own hyperparameters from `hp`.
  """
  def build_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
    schedule = schedules.from_hparams(hp, step_hint)
    return transforms.decoupled_weight_decay(rule(schedule, hp), hp.weight_decay, schedule)
  return build_optimizer


# Hyperparameters a playbook search space may leave out.
DEFAULTS = {'weight_decay': 0.0, 'epsilon': 1e-8}
