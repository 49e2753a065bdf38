"""Playbook SGD: θ ← θ - η_t g, with warmup+cosine η_t and optional decoupled weight decay."""

from reference_algorithms.common import playbook, submission_lib
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)

build_optimizer = playbook.build_with_schedule(lambda lr, hp: playbook.sgd(lr))
init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, defaults=playbook.DEFAULTS)
