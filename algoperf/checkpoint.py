"""Save and restore everything a trial needs to continue exactly where it stopped (rule 8).

Arrays (params, model state, the array leaves of the optimizer state) go through Orbax;
bookkeeping (clocks, eval history, step, input-iterator position) is JSON beside them.
Optimizer states may hold non-array leaves such as AlgoPerf baselines' update function:
restore re-creates the state with the submission's `init_optimizer_state` and puts the
saved arrays back into it, which also gives every leaf its live sharding.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import shutil
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

CHECKPOINT_SUBDIR = 'checkpoints'
# Older Orbax (0.11.23, the v0.5 set's: constraints/algoperf-v0.5.txt) has no
# atomicity_types.TMP_DIR_SUFFIX; the suffix itself is the same.
_TMP_SUFFIX = getattr(ocp.path.atomicity_types, 'TMP_DIR_SUFFIX', '.orbax-checkpoint-tmp')
_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")


@dataclasses.dataclass
class TrialState:
  """The restorable state of one trial."""
  params: Any
  model_state: Any
  optimizer_state: Any
  global_step: int
  preemption_count: int
  train_state: dict[str, Any]
  eval_results: list
  input_queue_state: Any = None
  # Why the trial stopped, once it has: a resume then finishes the trial without a step.
  status: str | None = None


def _is_array(leaf) -> bool:
  return isinstance(leaf, (jax.Array, np.ndarray, np.generic))


def _split_optimizer_state(optimizer_state):
  leaves = jax.tree_util.tree_leaves(optimizer_state)
  arrays = [leaf for leaf in leaves if _is_array(leaf)]
  # Plain Python numbers/strings are saved as JSON; other objects (update functions,
  # compiled steps) are not state and come back from the re-initialised template.
  plain = [leaf if isinstance(leaf, (bool, int, float, str)) else None for leaf in leaves]
  return arrays, plain


def _none_to_empty(tree):
  return {} if tree is None else tree


def _manager(checkpoint_dir: str, keep_all: bool) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=None if keep_all else 1,
      # Synchronous: a background writer would compete with the timed training for cores.
      enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(checkpoint_dir), options=options)


def save(trial_dir: str, state: TrialState, keep_all: bool = False) -> None:
  """Write a checkpoint for `state.global_step` under `<trial_dir>/checkpoints/`."""
  opt_arrays, opt_plain = _split_optimizer_state(state.optimizer_state)
  arrays = {'params': state.params, 'model_state': _none_to_empty(state.model_state),
            'optimizer_arrays': opt_arrays}
  meta = {
      'global_step': state.global_step,
      'preemption_count': state.preemption_count,
      'train_state': state.train_state,
      'eval_results': state.eval_results,
      'input_queue_state': state.input_queue_state,
      'optimizer_plain_leaves': opt_plain,
      'model_state_is_none': state.model_state is None,
      'status': state.status,
  }
  directory = os.path.join(trial_dir, CHECKPOINT_SUBDIR)
  try:
    with _manager(directory, keep_all) as manager:
      manager.save(state.global_step, args=ocp.args.Composite(
          arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)), force=True)
      manager.wait_until_finished()
  except BaseException as error:
    # Orbax writes into `<step>.orbax-checkpoint-tmp` and renames it on commit, so a failed
    # save is never the latest step; its partial copy would still hold the space a rerun needs.
    _remove_unfinished(directory, state.global_step)
    os_error = _as_os_error(error, directory)
    if os_error is None:
      raise
    raise os_error from error


def _remove_unfinished(directory: str, step: int) -> None:
  for path in glob.glob(os.path.join(glob.escape(directory), f'{step}{_TMP_SUFFIX}*')):
    shutil.rmtree(path, ignore_errors=True)


def _as_os_error(error: BaseException, directory: str) -> OSError | None:
  """The OSError to raise for a failed save, or None to re-raise `error` unchanged.

  TensorStore reports a full disk as ValueError("... [os_error_code='28']"): raised as an
  OSError with that errno, the runner reports it as an I/O fault, like any other log write.
  """
  if isinstance(error, OSError) or not isinstance(error, Exception):
    return None
  match = _OS_ERROR_CODE.search(str(error))
  if match is None:
    return None
  code = int(match.group(1))
  return OSError(code, os.strerror(code), directory)


def latest_step(trial_dir: str) -> int | None:
  directory = os.path.join(trial_dir, CHECKPOINT_SUBDIR)
  if not os.path.isdir(directory):
    return None
  with _manager(directory, keep_all=True) as manager:
    return manager.latest_step()


def restore(trial_dir: str, template: TrialState) -> TrialState:
  """Restore the latest checkpoint into the structure (and shardings) of `template`.

  `template` is the freshly initialised trial state: same params/optimizer structure.
  """
  opt_leaves, opt_treedef = jax.tree_util.tree_flatten(template.optimizer_state)
  template_arrays, _ = _split_optimizer_state(template.optimizer_state)
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, {
      'params': template.params, 'model_state': _none_to_empty(template.model_state),
      'optimizer_arrays': template_arrays})
  directory = os.path.join(trial_dir, CHECKPOINT_SUBDIR)
  with _manager(directory, keep_all=True) as manager:
    step = manager.latest_step()
    if step is None:
      raise FileNotFoundError(f'No checkpoint under {directory}.')
    restored = manager.restore(step, args=ocp.args.Composite(
        arrays=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
  arrays, meta = restored['arrays'], restored['meta']
  saved_arrays = iter(arrays['optimizer_arrays'])
  merged = []
  for leaf, plain in zip(opt_leaves, meta['optimizer_plain_leaves'], strict=True):
    if _is_array(leaf):
      merged.append(next(saved_arrays))
    elif plain is None:
      merged.append(leaf)
    else:
      merged.append(plain)
  return TrialState(
      params=arrays['params'],
      model_state=None if meta['model_state_is_none'] else arrays['model_state'],
      optimizer_state=jax.tree_util.tree_unflatten(opt_treedef, merged),
      global_step=meta['global_step'],
      preemption_count=meta['preemption_count'],
      train_state=meta['train_state'],
      eval_results=[tuple(r) for r in meta['eval_results']],
      input_queue_state=meta['input_queue_state'],
      status=meta.get('status'))
