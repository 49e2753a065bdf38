"""The base of workloads whose target is a loss (lower is better).

A subclass supplies its constants (target, budget, sizes), `load_splits(data_dir)` and its
model (`init_model_fn`, `model_fn`, `loss_fn`, `is_output_params`); the in-memory splits,
input queues and masked evaluation of the mean loss come from `InMemoryWorkload`.
"""

from __future__ import annotations

from algoperf import spec
from workloads.common.in_memory_workload import InMemoryWorkload


class RegressionWorkload(InMemoryWorkload):
  """A loss-target workload over splits held in host memory."""

  target_metric_name = 'loss'
  target_metric_higher_is_better = False
  loss_type = spec.LossType.MEAN_SQUARED_ERROR

  def combine_ensemble_outputs(self, member_outputs):
    """The members' mean prediction: the natural average under a squared error."""
    return member_outputs.mean(axis=0)

  def _metrics_from_outputs(self, logits, batch):
    loss = self.loss_fn(batch['targets'], logits, batch['weights'])
    return {'loss': loss['summed'], 'count': loss['n_valid_examples']}
