"""AdamW (optax.adamw) with linear warmup and cosine decay over the step hint."""

import optax

from reference_algorithms.common import schedules, submission_lib
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)


def build_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
  return optax.adamw(
      learning_rate=schedules.from_hparams(hp, step_hint),
      b1=1.0 - hp.one_minus_beta1, b2=hp.beta2, eps=1e-8, weight_decay=hp.weight_decay)


init_optimizer_state = submission_lib.make_init_optimizer_state(build_optimizer)
