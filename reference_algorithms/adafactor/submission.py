"""Adafactor (optax.adafactor) with momentum, warmup+cosine and lr-scaled weight decay.

Departures from Optax's defaults, so the learning rate and weight decay mean what they
mean for AdamW: `multiply_by_parameter_scale=False` (no relative step size), and the
weight decay rate is λ·η_t rather than a raw λ (Optax adds λ·θ after the learning rate).
"""

import optax

from reference_algorithms.common import optax_compat, schedules, submission_lib
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)


def build_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
  schedule = schedules.from_hparams(hp, step_hint)
  decay_rate = (lambda count: hp.weight_decay * schedule(count)) if hp.weight_decay else None
  if decay_rate is not None and not optax_compat.DECAY_TAKES_SCHEDULE:
    # optax < 0.2.3 (AlgoPerf v0.6's pin) takes no schedule as the decay rate: the same
    # step, -(u + λη_t·θ), with the decay chained after Adafactor's final sign flip.
    return optax.chain(
        optax.adafactor(learning_rate=schedule, multiply_by_parameter_scale=False,
                        momentum=1.0 - hp.one_minus_beta1),
        optax_compat.add_decayed_weights(lambda count: -decay_rate(count)))
  return optax.adafactor(
      learning_rate=schedule, multiply_by_parameter_scale=False,
      momentum=1.0 - hp.one_minus_beta1, weight_decay_rate=decay_rate)


init_optimizer_state = submission_lib.make_init_optimizer_state(build_optimizer)
