"""Ensembles in the contract: `prepare_for_eval` may hand the runner several models.

AlgoPerf fixes the model, so a submission that evaluates an ensemble (snapshot ensembles,
FGE) is outside its rules; this project evaluates it anyway and the scorer puts it in its
own leaderboard category (docs/ensembles.md). The members travel stacked on a leading axis,
so the workload evaluates them in one vmapped pass and averages their predictive
distributions (`spec.Workload.combine_ensemble_outputs`).

A submission returns `(optimizer_state, spec.Ensemble(...), model_state)` from
`prepare_for_eval`; the runner then evaluates the ensemble and training continues from the
params and model state it had (an ensemble is not a point to train from).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class EnsembleError(ValueError):
  """An ensemble the runner cannot evaluate: empty, or members that do not fit together."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Ensemble:
  """Members' params and model states, each leaf stacked on a leading member axis."""
  params: Any
  model_state: Any = None

  @classmethod
  def stack(cls, members: Sequence[tuple[Any, Any]]) -> Ensemble:
    """An ensemble from `[(params, model_state), ...]`; all members share one structure."""
    members = list(members)
    if not members:
      raise EnsembleError('an ensemble needs at least one member; got an empty list.')
    first = jax.tree.structure(members[0])
    first_shapes = _shapes(members[0])
    for index, member in enumerate(members[1:], start=1):
      if jax.tree.structure(member) != first:
        raise EnsembleError(
            f'ensemble member {index} has a different structure from member 0: '
            f'{jax.tree.structure(member)} vs {first}.')
      if _shapes(member) != first_shapes:
        raise EnsembleError(f'ensemble member {index} has different leaf shapes from member 0.')
    params = jax.tree.map(lambda *xs: jnp.stack(xs), *[m[0] for m in members])
    model_state = (None if members[0][1] is None else
                   jax.tree.map(lambda *xs: jnp.stack(xs), *[m[1] for m in members]))
    return cls(params, model_state)

  @property
  def num_members(self) -> int:
    leaves = jax.tree.leaves(self.params)
    return int(leaves[0].shape[0]) if leaves else 0

  def member(self, index: int) -> tuple[Any, Any]:
    """Member `index` as (params, model_state)."""
    return jax.tree.map(lambda x: x[index], (self.params, self.model_state))

  @property
  def extra_bytes(self) -> int:
    """Memory the ensemble's params and states take beyond one model's."""
    total = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(self))
    members = self.num_members
    return total - total // members if members else 0


def _shapes(tree) -> list:
  return [getattr(x, 'shape', None) for x in jax.tree.leaves(tree)]


def check(ensemble: Ensemble, params_structure, params_shapes: list) -> None:
  """Raise EnsembleError unless every member has the workload's params structure and shapes
  and all leaves agree on the member count (at least 1)."""
  if not isinstance(ensemble, Ensemble):
    raise EnsembleError(f'expected a spec.Ensemble, got {type(ensemble).__name__}.')
  structure = jax.tree.structure(ensemble.params)
  if structure != params_structure:
    raise EnsembleError(f'the ensemble\'s params have a different tree structure from the '
                        f'workload\'s: {structure} vs {params_structure}.')
  leaves = jax.tree.leaves(ensemble.params)
  counts = {getattr(x, 'shape', (None,))[:1] for x in leaves}
  if len(counts) != 1 or None in next(iter(counts), (None,)):
    raise EnsembleError('the ensemble\'s leaves disagree on the number of members (the '
                        'leading axis): stack every member\'s params the same way.')
  (count,), = counts
  if count < 1:
    raise EnsembleError('the ensemble is empty (a leading member axis of length 0).')
  shapes = [tuple(x.shape[1:]) for x in leaves]
  if shapes != [tuple(s) for s in params_shapes]:
    raise EnsembleError('the ensemble\'s members have params of other shapes than the '
                        'workload\'s (each leaf must be (members, *shape of that param)).')
  state_leaves = jax.tree.leaves(ensemble.model_state)
  if any(getattr(x, 'shape', (None,))[:1] != (count,) for x in state_leaves):
    raise EnsembleError(f'the ensemble\'s model states must be stacked like its params, '
                        f'with {count} members on the leading axis.')
