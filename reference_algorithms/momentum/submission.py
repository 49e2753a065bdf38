"""Playbook heavy-ball momentum: v ← γv + g, θ ← θ - η_t v; γ = 1 - one_minus_beta1."""

from reference_algorithms.common import playbook, submission_lib
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)

build_optimizer = playbook.build_with_schedule(
    lambda lr, hp: playbook.momentum(lr, gamma=1.0 - hp.one_minus_beta1))
init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, defaults=playbook.DEFAULTS)
