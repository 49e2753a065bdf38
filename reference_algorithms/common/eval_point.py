"""Algorithms that evaluate another point than the one they train.

When `prepare_for_eval` returns params, the runner (like AlgoPerf's) trains on from them.
Schedule-free evaluates its average x but trains y; SWA evaluates its running average
but trains the optimizer's iterate. So the optimizer state of such an algorithm carries the
training point itself, in a structure fixed from `init_optimizer_state` on (checkpoint
restore rebuilds the state with `init_optimizer_state` and pours the saved arrays in):
`update_params` trains from the carried point, whatever params the runner passes back,
and `prepare_for_eval` leaves it in place. An ensemble (FGE, snapshot ensembles) does not
replace the runner's params, but uses the same state for its snapshot buffer.

The carried point and the params `update_params` returns are the same buffers; the next
step donates them once, through the carried point, and the runner replaces its copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils, spec
from reference_algorithms.common import averaging, batch_norm


class TrainingPoint(NamedTuple):
  """Where training continues: the params and model state the last step produced."""
  params: Any
  model_state: Any


class CarryingState(NamedTuple):
  """The optimizer state of an algorithm with an `EvalPlan`; the Optax state comes first,
  as in the ordinary `(optax_state, CompiledSteps)`."""
  optax_state: Any
  training: TrainingPoint
  tracked: Any  # the plan's tracker state (None without a tracker)
  recent: batch_norm.RecentBatches
  steps: Any  # train_step.CompiledSteps; `steps.evaluate` is the plan's `evaluate`


# (state, rng) -> (params, model_state) to evaluate, or a spec.Ensemble.
Evaluate = Callable[[CarryingState, Any], Any]


@dataclasses.dataclass(frozen=True)
class EvalPlan:
  """What an algorithm evaluates instead of its training point, and what it keeps for it.

  tracker: folds each step's point into the state (averaging.Tracker), inside the step.
  recent_batches: how many of the last train batches `evaluate` may use.
  """
  evaluate: Evaluate
  tracker: averaging.Tracker | None = None
  recent_batches: int = 0


def _fresh_copies(tree):
  """Replicated copies of `tree` in new buffers, so no state leaf aliases a donated input."""
  return jax.jit(lambda t: jax.tree.map(jnp.copy, t),
                 out_shardings=jax_sharding_utils.get_replicate_sharding())(tree)


def init_state(optax_state, params, model_state, plan: EvalPlan, steps) -> CarryingState:
  """The state at step 0: the initial point carried, the tracker empty."""
  tracked = None
  if plan.tracker is not None:
    tracked = jax.jit(plan.tracker.init,
                      out_shardings=jax_sharding_utils.get_replicate_sharding())(
                          params, model_state)
  return CarryingState(optax_state, TrainingPoint(*_fresh_copies((params, model_state))),
                       tracked, batch_norm.RecentBatches(plan.recent_batches), steps)


def train(state: CarryingState, batch, rng):
  """One compiled step from the carried point: (new state, params, model state, loss, norm)."""
  with_tracker = state.tracked is not None
  opt_in = (state.optax_state, state.tracked) if with_tracker else state.optax_state
  params, model_state, opt_out, loss, grad_norm = state.steps.train(
      state.training.params, state.training.model_state, opt_in, batch, rng)
  optax_state, tracked = opt_out if with_tracker else (opt_out, None)
  new_state = CarryingState(optax_state, TrainingPoint(params, model_state), tracked,
                            state.recent.push(batch), state.steps)
  return new_state, params, model_state, loss, grad_norm


def prepare(state: CarryingState, rng) -> spec.UpdateReturn:
  """The plan's eval point (or ensemble); the state, with its training point, is unchanged."""
  evaluated = state.steps.evaluate(state, rng)
  if isinstance(evaluated, spec.Ensemble):
    return state, evaluated, state.training.model_state
  params, model_state = evaluated
  return state, params, model_state


def evaluate_eval_params(eval_params: Callable[[Any, Any], Any]) -> Evaluate:
  """A plan's `evaluate` from a jitted (optax_state, params) -> params map (schedule-free's
  x); the model state is the training point's."""

  def evaluate(state: CarryingState, rng):
    del rng
    return eval_params(state.optax_state, state.training.params), state.training.model_state

  return evaluate
