"""The AlgoPerf submission functions, shared by every reference algorithm.

A baseline supplies only `build_optimizer(hp, step_hint) -> optax.GradientTransformation`
and gets `init_optimizer_state` from `make_init_optimizer_state`; `update_params`,
`prepare_for_eval`, `data_selection` and `get_batch_size` are the same for all of them.

The optimizer state is `(optax_state, CompiledSteps)`, the shape AlgoPerf's baselines use
(`(state, update_fn)`): array leaves first, the jitted step as a non-array leaf that a
checkpoint restore gets back by re-running `init_optimizer_state`. An algorithm that
evaluates another point than it trains (schedule-free's x, SWA's average, an ensemble)
gets an `eval_point.CarryingState` instead, which also carries its training point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import optax

from algoperf import jax_sharding_utils, spec
from reference_algorithms.common import eval_point, train_step
from reference_algorithms.common import hparams as hparams_lib

# Loss and gradient norm go to the metrics logger every this many steps; converting them
# to Python floats waits for the step, so the other steps never block on the device.
LOG_EVERY_STEPS = 100

# Global batch sizes for this project's workloads; unknown names raise ValueError and the
# runner falls back to the workload's default batch size.
BATCH_SIZES: Mapping[str, int] = {
    'mnist1d': 128,
    'mnist': 128,
    'fashion_mnist': 128,
    'cifar': 128,
    'mnist1d_cnn': 128,
    'mnist1d_cnn_batchnorm': 128,
    'fashion_mnist_cnn': 128,
    'fashion_mnist_cnn_tanh': 128,
    'noisy_quadratic': 128,
    'noisy_quadratic_illcond': 128,
    'char_lm': 32,
    'char_lm_postnorm': 32,
}

BuildOptimizer = Callable[[hparams_lib.HParams, int], optax.GradientTransformation]
# (hyperparameters, workload, model_state) -> the trial's eval plan.
BuildEvalPlan = Callable[[hparams_lib.HParams, spec.Workload, Any], eval_point.EvalPlan]


def make_init_optimizer_state(
    build_optimizer: BuildOptimizer, *,
    defaults: Mapping[str, Any] | None = None,
    self_tuning: Mapping[str, Any] | None = None,
    eval_params: Callable[[Any, Any], Any] | None = None,
    pass_grad_fn: bool = False,
    build_eval_plan: BuildEvalPlan | None = None) -> spec.InitOptimizerFn:
  """Return an AlgoPerf `init_optimizer_state` for one optimizer recipe.

  defaults: values for hyperparameters the search space may omit.
  self_tuning: the full hyperparameter set used when the runner passes None.
  eval_params: (optax_state, params) -> params to evaluate, for `prepare_for_eval`;
    training goes on from the params it was given (eval_point).
  pass_grad_fn: give the optimizer a gradient oracle (see train_step.build_train_step).
  build_eval_plan: what the algorithm evaluates and tracks (eval_point.EvalPlan), for
    averages and ensembles; exclusive with `eval_params`.
  """
  if eval_params is not None and build_eval_plan is not None:
    raise ValueError('give eval_params or build_eval_plan, not both')

  def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                           model_state: spec.ModelAuxiliaryState,
                           hyperparameters: spec.Hyperparameters,
                           rng: spec.RandomState) -> spec.OptimizerState:
    """Build the optimizer and its jitted train step; untimed in the benchmark."""
    del rng
    hp = hparams_lib.resolve(hyperparameters, defaults, self_tuning)
    tx = build_optimizer(hp, workload.step_hint)
    # A jitted init gives fresh replicated buffers: no state leaf aliases a (donated) param.
    opt_state = jax.jit(tx.init, out_shardings=jax_sharding_utils.get_replicate_sharding())(
        model_params)
    plan = _eval_plan(hp, workload, model_state, eval_params, build_eval_plan)
    steps = train_step.CompiledSteps(
        train=train_step.build_train_step(
            workload, tx, label_smoothing=hp.label_smoothing, grad_clip=hp.grad_clip,
            dropout_rate=hp.dropout_rate, pass_grad_fn=pass_grad_fn,
            tracker=None if plan is None else plan.tracker),
        evaluate=None if plan is None else plan.evaluate)
    if plan is None:
      return opt_state, steps
    return eval_point.init_state(opt_state, model_params, model_state, plan, steps)

  return init_optimizer_state


def _eval_plan(hp, workload, model_state, eval_params, build_eval_plan):
  """The trial's eval plan; None for algorithms that evaluate the point they train."""
  if build_eval_plan is not None:
    return build_eval_plan(hp, workload, model_state)
  if eval_params is not None:
    return eval_point.EvalPlan(
        eval_point.evaluate_eval_params(train_step.build_eval_params(eval_params)))
  return None


def _log_train_metrics(workload: spec.Workload, global_step: int, loss, grad_norm) -> None:
  logger = getattr(workload, 'metrics_logger', None)
  if logger is None or global_step % LOG_EVERY_STEPS:
    return
  logger.append_scalar_metrics({'loss': float(loss), 'grad_norm': float(grad_norm)},
                               global_step)


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree,
                  model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: dict[str, spec.Tensor],
                  loss_type: spec.LossType, optimizer_state: spec.OptimizerState,
                  eval_results: list[tuple[int, float]], global_step: int,
                  rng: spec.RandomState,
                  train_state: dict[str, Any] | None = None) -> spec.UpdateReturn:
  """One step of the trial's compiled train step; the old params and states are donated.

  A `CarryingState` trains from the point it carries, not from the (evaluated) params passed.
  """
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  if isinstance(optimizer_state, eval_point.CarryingState):
    del current_param_container, model_state  # the eval point, after a prepare_for_eval
    state, params, model_state, loss, grad_norm = eval_point.train(optimizer_state, batch, rng)
    _log_train_metrics(workload, global_step, loss, grad_norm)
    return state, params, model_state
  opt_state, steps = optimizer_state
  params, model_state, opt_state, loss, grad_norm = steps.train(
      current_param_container, model_state, opt_state, batch, rng)
  _log_train_metrics(workload, global_step, loss, grad_norm)
  return (opt_state, steps), params, model_state


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree,
                     model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState,
                     eval_results: list[tuple[int, float]], global_step: int,
                     rng: spec.RandomState) -> spec.UpdateReturn:
  """Return what to evaluate: the params as they are, or a `CarryingState`'s eval point
  (schedule-free's x, SWA's average) or ensemble; its training point stays in the state."""
  del workload, current_params_types, hyperparameters, loss_type, eval_results, global_step
  if isinstance(optimizer_state, eval_point.CarryingState):
    return eval_point.prepare(optimizer_state, rng)
  return optimizer_state, current_param_container, model_state


def data_selection(workload: spec.Workload, input_queue: Iterator[dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState,
                   current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState,
                   hyperparameters: spec.Hyperparameters, global_step: int,
                   rng: spec.RandomState) -> dict[str, spec.Tensor]:
  """The next batch of the pre-shuffled, repeating train queue."""
  del workload, optimizer_state, current_param_container, model_state, hyperparameters
  del global_step, rng
  return next(input_queue)


def get_batch_size(workload_name: str) -> int:
  """Global training batch size for one of this project's workloads."""
  try:
    return BATCH_SIZES[workload_name]
  except KeyError:
    raise ValueError(
        f'Unsupported workload name: {workload_name!r} (known: {sorted(BATCH_SIZES)}).'
    ) from None
