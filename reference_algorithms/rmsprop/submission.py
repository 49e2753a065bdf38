"""Playbook RMSProp (v_0 = 1, ε inside the root, momentum on the scaled step).

ρ = beta2, momentum γ = 1 - one_minus_beta1, ε = epsilon.
"""

from reference_algorithms.common import playbook, submission_lib
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)

build_optimizer = playbook.build_with_schedule(
    lambda lr, hp: playbook.rmsprop(lr, rho=hp.beta2, gamma=1.0 - hp.one_minus_beta1,
                                    eps=hp.epsilon))
init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, defaults=playbook.DEFAULTS)
