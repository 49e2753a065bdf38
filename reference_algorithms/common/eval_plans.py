"""The two eval plans of the averaging and ensembling baselines (eval_point.EvalPlan).

`averaged`: evaluate the running average of the params (SWA), with batch-norm statistics
recomputed for it on the last train batches. `ensemble`: evaluate the kept snapshots as
one `spec.Ensemble`, newest last (FGE, snapshot ensembles). Before the first average or
snapshot both evaluate the training point.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from reference_algorithms.common import averaging, batch_norm, cyclic, eval_point

# Train batches SWA's batch-norm recompute averages over: 16 batches of 128 are ~2,000
# examples, half an epoch of MNIST-1D; torch's `update_bn` takes a full epoch.
BN_RECOMPUTE_BATCHES = 16


@jax.jit
def _copy(tree):
  # New buffers: the average lives in the tracker state, which the next train step donates.
  return jax.tree.map(jnp.copy, tree)


def averaged(due: averaging.Due, workload, model_state,
             bn_batches: int = BN_RECOMPUTE_BATCHES) -> eval_point.EvalPlan:
  """Evaluate the mean of the params at the steps `due` names (batch-norm statistics
  recomputed when the model state holds any)."""
  recompute = (batch_norm.build_recompute(workload)
               if batch_norm.has_statistics(model_state) else None)

  def evaluate(state: eval_point.CarryingState, rng):
    average = state.tracked
    if int(average.count) == 0:  # a device sync, billed to prepare_for_eval
      return state.training
    params = _copy(average.mean)
    model_state = state.training.model_state
    if recompute is not None and state.recent.batches:
      model_state = recompute(params, model_state, state.recent.batches, rng)
    return params, model_state

  return eval_point.EvalPlan(evaluate, averaging.running_average(due),
                             recent_batches=bn_batches if recompute is not None else 0)


def ensemble(capacity: int, due: averaging.Due) -> eval_point.EvalPlan:
  """Evaluate the last `capacity` snapshots taken at the steps `due` names, newest last."""

  def evaluate(state: eval_point.CarryingState, rng):
    del rng
    members = averaging.snapshot_ensemble(state.tracked, capacity)
    return state.training if members is None else members

  return eval_point.EvalPlan(evaluate, averaging.snapshot_ring(capacity, due))


def ensemble_of_cycles(cycles_of):
  """`build_eval_plan` for an ensemble of the last `hp.ensemble_size` snapshots, one at the
  end of each cycle of `cycles_of(hp, step_hint) -> cyclic.Cycles` (FGE, snapshot ensembles)."""

  def build_eval_plan(hp, workload, model_state):
    del model_state
    cycles = cycles_of(hp, workload.step_hint)
    return ensemble(cyclic.ensemble_size(hp.ensemble_size), cycles.is_harvest)

  return build_eval_plan
