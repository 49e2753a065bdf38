"""Trained points: the params and model state a trial's checkpoint holds, and its workload.

A point is named by its trial folder (`.../study_<k>/<workload>_jax/trial_<i>/`), which
holds `meta_data_0.json` (the workload) and `checkpoints/<step>/` (`algoperf.checkpoint`).
The final checkpoint is read unless a step is asked for (`--step`, or `TRIAL@STEP`).
Only params and model state are read (Orbax partial restore), never the optimizer state,
and they are checked against the workload's own initial structure, so points of different
workloads or parameter structures are refused before any work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from algoperf.landscape import LandscapeError

# `algoperf.checkpoint`'s folder name; JAX and Orbax are imported where arrays are read, so
# the checks of folders and workloads (and their errors) come before any heavy import.
CHECKPOINT_SUBDIR = 'checkpoints'
FRAMEWORK_SUFFIX = '_jax'

META_DATA = 'meta_data_0.json'
HOW_TO_CHECKPOINT = (
    'trials of submission_runner.py and run_suite.py write one at every eval with '
    '--save_checkpoints (the default) and always when they end, but stored baselines, '
    'AlgoPerf\'s own logs and trials that failed before their first eval have none. Run '
    'the trial again, e.g. python submission_runner.py --workload=W --submission_path=S '
    '--tuning_search_space=J --experiment_dir=experiments --experiment_name=E '
    '--save_checkpoints')


@dataclasses.dataclass
class TrainedPoint:
  """One trained point: where it came from, and its arrays (host NumPy pytrees)."""
  trial_dir: str
  step: int
  workload: str
  params: Any
  model_state: Any   # None when the model has none

  def describe(self) -> dict[str, Any]:
    return {'trial_dir': self.trial_dir, 'step': self.step, 'workload': self.workload,
            'rng_seed': _meta(self.trial_dir).get('rng_seed')}

  @property
  def short_name(self) -> str:
    """<experiment>/study_<k>/trial_<i>@<step> (the workload folder left out)."""
    parts = os.path.normpath(self.trial_dir).split(os.sep)
    return f'{"/".join(parts[-4:-2] + parts[-1:])}@{self.step}'


def parse_point(arg: str) -> tuple[str, int | None]:
  """'TRIAL_DIR' or 'TRIAL_DIR@STEP' → (folder, step or None)."""
  path, sep, step = arg.rpartition('@')
  if sep and step.isdigit() and not os.path.exists(arg):
    return os.path.abspath(os.path.expanduser(path)), int(step)
  return os.path.abspath(os.path.expanduser(arg)), None


def _meta(trial_dir: str) -> dict[str, Any]:
  path = os.path.join(trial_dir, META_DATA)
  if not os.path.exists(path):
    return {}
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def check_trial_dir(trial_dir: str) -> None:
  """A clear error unless `trial_dir` is a trial folder (says which folders under it are)."""
  if not os.path.isdir(trial_dir):
    raise LandscapeError(f'{trial_dir}: no such folder (give a trial folder, '
                         '.../study_0/<workload>_jax/trial_1)')
  if os.path.exists(os.path.join(trial_dir, META_DATA)):
    return
  found = sorted(os.path.dirname(p) for p in glob.glob(
      os.path.join(glob.escape(trial_dir), '**', META_DATA), recursive=True))
  hint = ('; trial folders under it: ' + ', '.join(os.path.relpath(p, trial_dir)
                                                   for p in found[:6])
          + (f' and {len(found) - 6} more' if len(found) > 6 else '')) if found else ''
  raise LandscapeError(f'{trial_dir} is not a trial folder (no {META_DATA}){hint}')


def workload_of(trial_dir: str) -> str:
  """The workload a trial ran: its meta data, else its `<workload>_jax` parent folder."""
  name = _meta(trial_dir).get('workload')
  if name:
    return name
  parent = os.path.basename(os.path.dirname(os.path.normpath(trial_dir)))
  if parent.endswith(FRAMEWORK_SUFFIX):
    return parent[:-len(FRAMEWORK_SUFFIX)]
  raise LandscapeError(f'{trial_dir}: cannot tell its workload ({META_DATA} names none)')


@contextlib.contextmanager
def _quiet_orbax():
  """Orbax warns about metadata files older writers did not make; nothing to act on."""
  logger = logging.getLogger('absl')
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def available_steps(trial_dir: str) -> list[int]:
  """The checkpointed steps of a trial (committed ones only), ascending."""
  directory = os.path.join(trial_dir, CHECKPOINT_SUBDIR)
  if not os.path.isdir(directory):
    return []
  import orbax.checkpoint as ocp
  with _quiet_orbax(), ocp.CheckpointManager(directory) as manager:
    return sorted(manager.all_steps())


def listed_steps(trial_dir: str) -> list[int]:
  """Steps that have a folder under checkpoints/ (a cheap look before Orbax reads them)."""
  directory = os.path.join(trial_dir, CHECKPOINT_SUBDIR)
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def precheck(specs: Sequence[tuple[str, int | None]]) -> None:
  """The folder errors, before any array is read: no trial folder, no checkpoint, no such
  step (`load_point` checks again with Orbax, which ignores unfinished saves)."""
  for trial_dir, step in specs:
    check_trial_dir(trial_dir)
    steps = listed_steps(trial_dir)
    if not steps:
      raise LandscapeError(f'{trial_dir} has no checkpoint: {HOW_TO_CHECKPOINT}')
    if step is not None and step not in steps:
      raise LandscapeError(_missing_step(trial_dir, step, steps))


def _missing_step(trial_dir: str, step: int, steps: list[int]) -> str:
  return (f'{trial_dir} has no checkpoint at step {step}; it has step(s) '
          f'{", ".join(map(str, steps))}. Only the last one is kept unless the trial ran '
          'with --save_intermediate_checkpoints')


def _leaf_shapes(tree) -> dict[str, tuple]:
  import jax
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(path): tuple(getattr(leaf, 'shape', None) or np.shape(leaf))
          for path, leaf in flat}


def _structure_difference(saved: dict[str, tuple], expected: dict[str, tuple]) -> str | None:
  missing = sorted(set(expected) - set(saved))
  extra = sorted(set(saved) - set(expected))
  if missing or extra:
    return (f'missing {", ".join(missing[:3]) or "nothing"}; unexpected '
            f'{", ".join(extra[:3]) or "nothing"}')
  for key, shape in expected.items():
    if saved[key] != shape:
      return f'{key} has shape {saved[key]}, the workload\'s is {shape}'
  return None


def _restore_arrays(step_dir: str, template: dict[str, Any]) -> dict[str, Any]:
  """params and model_state of one checkpoint as NumPy arrays, optimizer state unread."""
  import jax
  import orbax.checkpoint as ocp
  path = os.path.join(step_dir, 'arrays')
  checkpointer = ocp.PyTreeCheckpointer()
  with _quiet_orbax():
    metadata = checkpointer.metadata(path)
    tree = getattr(metadata, 'item_metadata', metadata)
    tree = getattr(tree, 'tree', tree)
    saved = {key: tree.get(key) for key in ('params', 'model_state')}
    for key in ('params', 'model_state'):
      difference = _structure_difference(_leaf_shapes(saved[key] or {}),
                                         _leaf_shapes(template[key]))
      if difference is not None:
        raise LandscapeError(
            f'{step_dir}: its {key} do not have the workload\'s structure ({difference}): '
            'a checkpoint of another model or of an older version of the workload')
    item = {key: template[key] for key in ('params', 'model_state')}
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), item)
    try:
      restored = checkpointer.restore(path, args=ocp.args.PyTreeRestore(
          item=item, restore_args=restore_args, partial_restore=True))
    except TypeError:  # Older Orbax (the v0.5 set's) has no partial restore: read it all.
      restored = checkpointer.restore(path)
  return {key: jax.tree.map(np.asarray, restored[key]) for key in ('params', 'model_state')}


def load_point(trial_dir: str, step: int | None, workload, template) -> TrainedPoint:
  """Read one trial's params and model state at `step` (None: its last checkpoint).

  `template` = {'params', 'model_state'} of the workload's initialisation (shapes only)."""
  check_trial_dir(trial_dir)
  steps = available_steps(trial_dir)
  if not steps:
    raise LandscapeError(f'{trial_dir} has no checkpoint: {HOW_TO_CHECKPOINT}')
  if step is None:
    step = steps[-1]
  elif step not in steps:
    raise LandscapeError(_missing_step(trial_dir, step, steps))
  step_dir = os.path.join(trial_dir, CHECKPOINT_SUBDIR, str(step))
  template = {'params': template['params'], 'model_state': template['model_state'] or {}}
  arrays = _restore_arrays(step_dir, template)
  state = arrays['model_state'] or None
  return TrainedPoint(trial_dir, step, workload, arrays['params'], state)


def template_of(workload) -> dict[str, Any]:
  """The workload's parameter and model-state structure: shapes and dtypes of its
  initialisation, traced (`jax.eval_shape`), not run."""
  import jax
  params, model_state = jax.eval_shape(workload.init_model_fn, jax.random.PRNGKey(0))
  return {'params': params, 'model_state': model_state}


def resolve_workload(specs: Sequence[tuple[str, int | None]], workload_flag: str | None) -> str:
  """The one workload of every point's trial; a clear error when they differ."""
  names = {}
  for trial_dir, _ in specs:
    check_trial_dir(trial_dir)
    names[trial_dir] = workload_of(trial_dir)
  distinct = sorted(set(names.values()))
  if len(distinct) > 1:
    listing = '; '.join(f'{d} is {n}' for d, n in names.items())
    raise LandscapeError(f'the points come from different workloads ({listing}): a '
                         'landscape compares solutions of one workload')
  if workload_flag and distinct and workload_flag != distinct[0]:
    raise LandscapeError(f'--workload={workload_flag}, but the trials ran {distinct[0]}')
  return distinct[0]


def load_points(specs: Sequence[tuple[str, int | None]], workload_name: str, workload
                ) -> list[TrainedPoint]:
  """Every point, checked against the workload's structure (one error for the first bad)."""
  template = template_of(workload)
  return [load_point(trial_dir, step, workload_name, template) for trial_dir, step in specs]


def flatten(tree) -> np.ndarray:
  """All leaves of a pytree as one float64 vector (for plane geometry)."""
  import jax
  leaves = jax.tree.leaves(tree)
  return np.concatenate([np.asarray(leaf, np.float64).ravel() for leaf in leaves])


def unflatten(vector: np.ndarray, like) -> Any:
  """A float32 pytree shaped like `like` from a flat vector (inverse of `flatten`)."""
  import jax
  leaves, treedef = jax.tree.flatten(like)
  out, start = [], 0
  for leaf in leaves:
    size = int(np.size(leaf))
    out.append(np.asarray(vector[start:start + size], np.asarray(leaf).dtype)
               .reshape(np.shape(leaf)))
    start += size
  return jax.tree.unflatten(treedef, out)
