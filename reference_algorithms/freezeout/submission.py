"""FreezeOut (Brock et al., 2017): layers stop training one after another, input first.

Group i of the workload's layer groups (`parameter_groups_input_to_output`) trains for
the first t_i = s(t_0 + (1 - t_0)·i/L) of the step hint (s: linear, squared or cubic),
with its own warmup + cosine rate that reaches zero at t_i, started at α/t_i when
`scale_lr` (the paper's "scale lr" variant), on the base optimizer: Nesterov SGD as in the
paper, heavy-ball momentum, or NAdamW (`common/freezing.py`).

Frozen groups leave the backward pass: each freezing stage has its own jitted step that
differentiates only the groups still training (`common/partial_train_step.py`). A stage's
step compiles on its first use, in `update_params`, so its compilation is billed to the
submission like the first step's of every baseline: the batch shape it needs is not known
in `init_optimizer_state`. Once every group is frozen (the step hint) training is over:
`update_params` raises `spec.TrainingCompleteError`. A model of one parameter vector
(noisy_quadratic) is one group: FreezeOut is then its base optimizer with its schedule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import optax

from algoperf import jax_sharding_utils, spec
from reference_algorithms.common import (
  base_optimizer,
  freezing,
  hparams,
  partial_train_step,
  playbook,
  schedules,
  submission_lib,
  train_step,
  transforms,
)
from reference_algorithms.common.submission_lib import (  # noqa: F401 (submission API)
  data_selection,
  get_batch_size,
  prepare_for_eval,
)

# Hyperparameters a search space may leave out: weight decay, NAdamW's β₂ (read only with
# that base), and the base rule and "scale lr" of the paper.
DEFAULTS = {'weight_decay': 0.0, 'beta2': 0.999, 'base_optimizer': 'nesterov',
            'scale_lr': True}
BASE_OPTIMIZERS = ('nesterov', 'momentum', 'nadamw')


def group_rule(hp, learning_rate: optax.Schedule) -> optax.GradientTransformation:
  """One group's update rule at its own rate: Playbook Nesterov/Momentum with decoupled
  weight decay, or the nadamw baseline's NAdamW."""
  if hp.base_optimizer == 'nadamw':
    return base_optimizer.nadamw(hp, learning_rate)
  if hp.base_optimizer not in BASE_OPTIMIZERS:
    raise ValueError(f'FreezeOut base_optimizer must be one of {list(BASE_OPTIMIZERS)}, got '
                     f'{hp.base_optimizer!r}.')
  rule = getattr(playbook, hp.base_optimizer)(learning_rate, gamma=1.0 - hp.one_minus_beta1)
  return transforms.decoupled_weight_decay(rule, hp.weight_decay, learning_rate)


def build_schedule(hp, workload: spec.Workload) -> freezing.FreezeSchedule:
  groups = workload.parameter_groups_input_to_output()
  freezing.check_groups(groups, list(workload.param_shapes))
  return freezing.build_schedule(groups, workload.step_hint, hp.t_0, hp.freeze_scaling)


def build_group_optimizers(hp, schedule: freezing.FreezeSchedule,
                           step_hint: int) -> list[optax.GradientTransformation]:
  warmup = schedules.warmup_length(hp, step_hint)
  return [group_rule(hp, schedule.learning_rate(i, hp.learning_rate, warmup, hp.scale_lr))
          for i in range(schedule.num_groups)]


@dataclasses.dataclass(frozen=True)
class StagedSteps:
  """The trial's jitted steps, one per freezing stage (keyed by its number of frozen
  groups), picked by the global step. A non-array optimizer-state leaf, like
  `train_step.CompiledSteps`; the shared `prepare_for_eval` evaluates the params as they
  are."""

  schedule: freezing.FreezeSchedule
  stages: Mapping[int, train_step.CompiledSteps]

  def at(self, global_step: int) -> train_step.CompiledSteps:
    frozen = self.schedule.num_frozen(global_step)
    if frozen == self.schedule.num_groups:
      raise spec.TrainingCompleteError(
          f'FreezeOut: every layer group is frozen from step {self.schedule.stops[-1]} on.')
    return self.stages[frozen]


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState,
                         hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  """Per-group optimizer states and one (not yet compiled) step per stage; untimed.

  ValueError for a schedule that freezes a group before step 1, for layer groups that do
  not partition the params, and for unknown knob values."""
  del model_state, rng
  hp = hparams.resolve(hyperparameters, DEFAULTS)
  schedule = build_schedule(hp, workload)
  txs = build_group_optimizers(hp, schedule, workload.step_hint)
  init = jax.jit(lambda params: tuple(
      tx.init(partial_train_step.split_params(params, group)[0])
      for tx, group in zip(txs, schedule.groups, strict=True)),
      out_shardings=jax_sharding_utils.get_replicate_sharding())
  stages = {frozen: train_step.CompiledSteps(partial_train_step.build_partial_train_step(
      workload, schedule.groups, txs, frozen=range(frozen), label_smoothing=hp.label_smoothing,
      grad_clip=hp.grad_clip, dropout_rate=hp.dropout_rate)) for frozen in schedule.stages}
  return init(model_params), StagedSteps(schedule, stages)


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree,
                  model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: dict[str, spec.Tensor],
                  loss_type: spec.LossType, optimizer_state: spec.OptimizerState,
                  eval_results: list[tuple[int, float]], global_step: int,
                  rng: spec.RandomState,
                  train_state: dict | None = None) -> spec.UpdateReturn:
  """The shared `update_params` with this step's stage; TrainingCompleteError at the end."""
  opt_states, steps = optimizer_state
  (opt_states, _), params, model_state = submission_lib.update_params(
      workload, current_param_container, current_params_types, model_state, hyperparameters,
      batch, loss_type, (opt_states, steps.at(global_step)), eval_results, global_step, rng,
      train_state)
  return (opt_states, steps), params, model_state
