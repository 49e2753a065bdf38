"""Schedule-Free AdamW for the self-tuning ruleset: one fixed, broadly safe setting.

No schedule length to tune is the method's point, which makes it a natural self-tuning
baseline. The values are this project's choice (close to the NAdamW self-tuning ones).
"""

import optax

from reference_algorithms.common import submission_lib
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)
from reference_algorithms.schedule_free_adamw.submission import build_optimizer

HPARAMS = {
    'learning_rate': 2.5e-3,
    'one_minus_beta1': 0.1,
    'beta2': 0.9955,
    'weight_decay': 0.08,
    'warmup_factor': 0.02,
    'dropout_rate': 0.1,
}

init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, self_tuning=HPARAMS,
    eval_params=optax.contrib.schedule_free_eval_params)
