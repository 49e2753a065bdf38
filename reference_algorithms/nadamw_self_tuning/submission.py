"""NAdamW for the self-tuning ruleset: AlgoPerf's fixed self-tuning baseline hyperparameters."""

from reference_algorithms.common import submission_lib
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
  update_params,
)
from reference_algorithms.nadamw.submission import build_optimizer

# AlgoPerf's self-tuning NAdamW baseline (algorithms/baselines/self_tuning).
HPARAMS = {
    'learning_rate': 0.0017486387539278373,
    'one_minus_beta1': 0.06733926164,
    'beta2': 0.9955159689799007,
    'weight_decay': 0.08121616522670176,
    'warmup_factor': 0.02,
    'dropout_rate': 0.1,
}

init_optimizer_state = submission_lib.make_init_optimizer_state(
    build_optimizer, self_tuning=HPARAMS)
