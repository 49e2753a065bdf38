"""Shampoo grafted onto Adam, with linear warmup, cosine decay and decoupled weight decay.

The rule is `common.shampoo.scale_by_shampoo` (written here: no maintained JAX Shampoo
runs on this JAX; the module says why). Search spaces may omit the Shampoo-specific
knobs; `DEFAULTS` fills them in.
"""

import optax

from reference_algorithms.common import schedules, shampoo, submission_lib, transforms
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)

# An eigh of a 256x256 statistic costs ~30 ms on a 2-core CPU (vs ~2 ms for a whole
# NAdamW step of an MLP workload), so the inverse roots are refreshed every 100 steps.
DEFAULTS = {
    'weight_decay': 0.0,
    'precondition_every': 100,
    'matrix_epsilon': 1e-6,
    'max_preconditioner_dim': 1024,
    'graft': 'adam',
}


def build_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
  schedule = schedules.from_hparams(hp, step_hint)
  rule = optax.chain(
      shampoo.scale_by_shampoo(
          b1=1.0 - hp.one_minus_beta1, b2=hp.beta2, eps=1e-8,
          precondition_every=int(hp.precondition_every),
          matrix_epsilon=hp.matrix_epsilon,
          max_preconditioner_dim=int(hp.max_preconditioner_dim), graft=hp.graft),
      optax.scale_by_learning_rate(schedule))
  return transforms.decoupled_weight_decay(rule, hp.weight_decay, schedule)


init_optimizer_state = submission_lib.make_init_optimizer_state(build_optimizer,
                                                                defaults=DEFAULTS)
