"""Schedule-Free AdamW (optax.contrib.schedule_free_adamw): warmup, then no decay.

Training runs on the interpolated point y; `prepare_for_eval` evaluates the averaged
point x (optax.contrib.schedule_free_eval_params), as the method prescribes.
"""

import optax

from reference_algorithms.common import schedules, submission_lib
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)


def build_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
  # No warmup is None: Optax's warmup_constant_schedule over 0 steps stays at 0 for ever.
  warmup = schedules.warmup_length(hp, step_hint)
  return optax.contrib.schedule_free_adamw(
      learning_rate=hp.learning_rate, warmup_steps=warmup or None,
      b1=1.0 - hp.one_minus_beta1, b2=hp.beta2, eps=1e-8, weight_decay=hp.weight_decay)


init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, eval_params=optax.contrib.schedule_free_eval_params)
