"""SAM around AdamW (optax.contrib.sam in opaque mode): one batch, two gradients per step.

The adversarial step is normalized SGD of radius `rho` (ascent); the AdamW step uses the
gradient at the perturbed params. Opaque mode keeps one optimizer step per runner step,
so the step budget and batch-norm statistics mean the same as for the other baselines.
"""

import optax

from reference_algorithms.adamw.submission import build_optimizer as build_adamw
from reference_algorithms.common import submission_lib
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)


def build_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
  adversary = optax.chain(optax.contrib.normalize(), optax.sgd(hp.rho))
  return optax.contrib.sam(build_adamw(hp, step_hint), adversary, sync_period=2,
                           opaque_mode=True)


init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, pass_grad_fn=True)
