"""NAdamW with linear warmup and cosine decay over the step hint: AlgoPerf's main baseline.

Optax's `nadamw` (Nesterov Adam, decoupled weight decay multiplied by the learning rate)
replaces AlgoPerf's forked init2winit NAdam; the two differ only in the bias correction
of the Nesterov term (Optax divides the look-ahead momentum by 1 - b1^(t+1), AlgoPerf
the whole numerator by 1 - b1^t), which vanishes after the first few steps.
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
  return optax.nadamw(
      learning_rate=schedules.from_hparams(hp, step_hint),
      b1=1.0 - hp.one_minus_beta1, b2=hp.beta2, eps=1e-8, weight_decay=hp.weight_decay)


init_optimizer_state = submission_lib.make_init_optimizer_state(build_optimizer)
