"""Load a submission file and check it against the contract before any training starts.

Every violation is reported as one `SubmissionError` naming the file, the function and the
rule broken, at load time where possible rather than minutes into a run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import logging
import numbers
import os
import signal
import sys
from collections.abc import Callable
from types import ModuleType

from algoperf import fault

logger = logging.getLogger(__name__)


class SubmissionError(ValueError):
  """A submission file breaks the submission contract."""


# Parameter names the runner passes by keyword (as AlgoPerf's runner does) or position.
_UPDATE_PARAMS_KEYWORDS = (
    'workload', 'current_param_container', 'current_params_types', 'model_state',
    'hyperparameters', 'batch', 'loss_type', 'optimizer_state', 'eval_results',
    'global_step', 'rng')
_PREPARE_FOR_EVAL_KEYWORDS = (
    'workload', 'current_param_container', 'current_params_types', 'model_state',
    'hyperparameters', 'loss_type', 'optimizer_state', 'eval_results', 'global_step', 'rng')
_POSITIONAL_ARITY = {
    'get_batch_size': 1,
    'init_optimizer_state': 5,
    'data_selection': 8,
    'get_eval_batch_size': 1,
}
REQUIRED_FUNCTIONS = ('get_batch_size', 'init_optimizer_state', 'update_params',
                      'data_selection')


@dataclasses.dataclass(frozen=True)
class Submission:
  """The validated functions of one submission file."""
  path: str
  module: ModuleType
  get_batch_size: Callable
  init_optimizer_state: Callable
  update_params: Callable
  data_selection: Callable
  prepare_for_eval: Callable | None
  get_eval_batch_size: Callable | None
  update_params_accepts_train_state: bool
  # The submission's package root (its folder when it is a plain file): frames from files
  # under it are the submission's own code.
  root: str = ''
  # Modules its import added to sys.modules (its own files and what they imported) and
  # the folders it put on sys.path.
  modules: tuple[str, ...] = ()
  sys_path_entries: tuple[str, ...] = ()

  def error(self, function: str, rule: str) -> SubmissionError:
    return SubmissionError(f'{self.path}: {function}: {rule}')

  def unload(self) -> None:
    """Forget the modules this submission's import added, so the next submission loaded
    in this process (another study, with its own `helper.py`) imports its own."""
    _unload(self.modules, self.sys_path_entries)


def load_submission(path: str) -> Submission:
  """Import the submission at `path` and check its functions' presence and signatures."""
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.isfile(path):
    raise SubmissionError(f'{path}: no such submission file.')
  if not path.endswith('.py'):
    raise SubmissionError(f'{path}: a submission must be a Python (.py) file.')
  module, root, modules, added_paths = _import_file(path)
  try:
    return _checked(path, module, root, modules, added_paths)
  except SubmissionError:
    _unload(modules, added_paths)
    raise


def _checked(path: str, module: ModuleType, root: str, modules: tuple[str, ...],
             added_paths: tuple[str, ...]) -> Submission:

  def function(name: str, required: bool) -> Callable | None:
    fn = getattr(module, name, None)
    if fn is None:
      if required:
        raise SubmissionError(f'{path}: {name}: required function is missing.')
      return None
    if not callable(fn):
      raise SubmissionError(f'{path}: {name}: must be a function, got {type(fn).__name__}.')
    return fn

  fns = {name: function(name, required=True) for name in REQUIRED_FUNCTIONS}
  fns['prepare_for_eval'] = function('prepare_for_eval', required=False)
  fns['get_eval_batch_size'] = function('get_eval_batch_size', required=False)

  for name, arity in _POSITIONAL_ARITY.items():
    if fns.get(name) is not None:
      _check_positional_arity(path, name, fns[name], arity)
  _check_keywords(path, 'update_params', fns['update_params'], _UPDATE_PARAMS_KEYWORDS)
  if fns['prepare_for_eval'] is not None:
    _check_keywords(path, 'prepare_for_eval', fns['prepare_for_eval'],
                    _PREPARE_FOR_EVAL_KEYWORDS)
  return Submission(
      path=path, module=module, root=root, modules=modules, sys_path_entries=added_paths,
      update_params_accepts_train_state=_accepts_keyword(fns['update_params'], 'train_state'),
      **fns)


def _import_file(path: str) -> tuple[ModuleType, str, tuple[str, ...], tuple[str, ...]]:
  """Import the submission as AlgoPerf does: a module of its package when it has one.

  The package root is the topmost folder above the file that still holds an
  `__init__.py` (the file's own folder when it holds none). It is mounted under a
  name of its own (`_algoperf_submission_<hash>`), so relative imports (`from .inv
  import Inv`) work, a submission never picks up a same-named module of another one,
  and the module is always the file at `path`. The root's parent (absolute imports of
  the package) and the file's folder (sibling modules, `import helper`) go on sys.path.
  Returns the module, the root, and the modules and sys.path entries this import added,
  which `Submission.unload` removes again.
  """
  directory = os.path.dirname(path)
  root = directory
  while os.path.isfile(os.path.join(root, '__init__.py')) and \
      os.path.dirname(root) != root and \
      os.path.isfile(os.path.join(os.path.dirname(root), '__init__.py')):
    root = os.path.dirname(root)
  package = f'_algoperf_submission_{hashlib.sha256(root.encode()).hexdigest()[:16]}'
  relative = os.path.relpath(os.path.splitext(path)[0], root).split(os.sep)
  before = set(sys.modules)
  is_package = os.path.isfile(os.path.join(root, '__init__.py'))
  added_paths = tuple(entry for entry in dict.fromkeys(
      [directory] + ([os.path.dirname(root)] if is_package else []))
      if entry not in sys.path)
  sys.path[:0] = added_paths
  try:
    _mount_package(package, root)
    module = importlib.import_module('.'.join([package, *relative]))
  except BaseException as e:  # The submission's own import failed (or exited): say where.
    _unload(_owned(set(sys.modules) - before, package, root, directory), added_paths)
    if is_users_interrupt(e):
      raise
    raise SubmissionError(
        f'{path}: importing the submission raised {type(e).__name__}: {e}'
        f'{fault.describe(e, root)}') from e
  owned = _owned(set(sys.modules) - before, package, root, directory)
  return module, root, owned, added_paths


def _owned(names, package: str, *folders: str) -> tuple[str, ...]:
  """The new modules that are the submission's: its mount and files under its folders.

  Libraries it imported first (optax.contrib, say) stay loaded: unloading a library's
  modules would make the next import build a second copy of its registries.
  """
  def own(name: str) -> bool:
    if name == package or name.startswith(package + '.'):
      return True
    file = getattr(sys.modules.get(name), '__file__', None) or ''
    return any(file.startswith(folder + os.sep) for folder in folders)
  return tuple(sorted(name for name in names if own(name)))


def _mount_package(name: str, folder: str) -> None:
  """Make `name` a package whose modules are the files of `folder` (namespace-like)."""
  if name in sys.modules:
    return
  init = os.path.join(folder, '__init__.py')
  if os.path.isfile(init):
    spec = importlib.util.spec_from_file_location(name, init,
                                                  submodule_search_locations=[folder])
  else:
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [folder]
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  if spec.loader is not None:
    spec.loader.exec_module(module)


def _unload(names, paths=()) -> None:
  for name in names:
    sys.modules.pop(name, None)
  for entry in paths:
    if entry in sys.path:
      sys.path.remove(entry)


def is_users_interrupt(e: BaseException) -> bool:
  """A KeyboardInterrupt from the user's Ctrl-C, not one raised by submission code.

  In a trial process SIGINT is ignored (the parent takes Ctrl-C), so there every
  KeyboardInterrupt comes from code.
  """
  return (isinstance(e, KeyboardInterrupt)
          and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)


def _signature(path: str, name: str, fn: Callable) -> inspect.Signature:
  try:
    return inspect.signature(fn)
  except (TypeError, ValueError) as e:
    raise SubmissionError(f'{path}: {name}: cannot read its signature ({e}).') from e


def _check_positional_arity(path: str, name: str, fn: Callable, arity: int) -> None:
  params = list(_signature(path, name, fn).parameters.values())
  if any(p.kind is p.VAR_POSITIONAL for p in params):
    return
  keyword_only = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
  if keyword_only:
    raise SubmissionError(
        f'{path}: {name}: the runner passes {arity} positional arguments; required '
        f'keyword-only parameter(s) {", ".join(keyword_only)} would never be given.')
  positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
  required = [p for p in positional if p.default is p.empty]
  if len(required) > arity or len(positional) < arity:
    raise SubmissionError(
        f'{path}: {name}: must accept {arity} positional arguments '
        f'(takes {len(positional)}, of which {len(required)} required).')


def _accepts_keyword(fn: Callable, keyword: str) -> bool:
  params = inspect.signature(fn).parameters
  return keyword in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _check_keywords(path: str, name: str, fn: Callable, keywords: tuple[str, ...]) -> None:
  params = _signature(path, name, fn).parameters
  positional_only = [k for k in keywords
                     if k in params and params[k].kind is params[k].POSITIONAL_ONLY]
  if positional_only:
    raise SubmissionError(
        f'{path}: {name}: the runner passes arguments by name as AlgoPerf does; '
        f'parameter(s) {", ".join(positional_only)} are positional-only.')
  if any(p.kind is p.VAR_KEYWORD for p in params.values()):
    return
  missing = [k for k in keywords if k not in params]
  if missing:
    raise SubmissionError(
        f'{path}: {name}: the runner passes arguments by name as AlgoPerf does; '
        f'missing parameter(s) {", ".join(missing)}.')
  optional = {'train_state'} if name == 'update_params' else set()
  extra_required = [p.name for p in params.values()
                    if p.name not in keywords and p.name not in optional
                    and p.default is p.empty and p.kind is not p.VAR_POSITIONAL]
  if extra_required:
    raise SubmissionError(
        f'{path}: {name}: unknown required parameter(s) {", ".join(extra_required)}.')


def resolve_batch_size(submission: Submission, workload_name: str, base_workload_name: str,
                       default_batch_size: int | None, num_devices: int) -> int:
  """The global batch size: the submission's for the workload, else for its base, else the
  workload's default (so AlgoPerf submissions, which only know AlgoPerf's names, still run).
  """
  batch_size = None
  for name in dict.fromkeys((workload_name, base_workload_name)):
    try:
      batch_size = submission.get_batch_size(name)
    except (ValueError, KeyError):  # "unknown workload", as AlgoPerf's baselines signal it
      continue
    except Exception as e:
      raise submission.error('get_batch_size', f'raised {type(e).__name__}: {e}') from e
    if batch_size is None:
      raise submission.error('get_batch_size', f'returned None for {name!r}.')
    break
  if batch_size is None:
    if default_batch_size is None:
      raise submission.error(
          'get_batch_size', f'raised ValueError for workload {workload_name!r} and the '
          'workload defines no default batch size.')
    logger.warning('%s: get_batch_size does not know %r; using the workload default %d.',
                   submission.path, workload_name, default_batch_size)
    batch_size = default_batch_size
  return _check_batch_size(submission, 'get_batch_size', batch_size, num_devices)


def resolve_eval_batch_size(submission: Submission, workload_name: str,
                            workload_eval_batch_size: int, num_devices: int) -> int:
  """The submission's eval batch size if it defines one, else the workload's (rounded to
  a multiple of the device count so it shards evenly)."""
  if submission.get_eval_batch_size is None:
    return max(num_devices, workload_eval_batch_size // num_devices * num_devices)
  try:
    batch_size = submission.get_eval_batch_size(workload_name)
  except Exception as e:
    raise submission.error('get_eval_batch_size', f'raised {type(e).__name__}: {e}') from e
  return _check_batch_size(submission, 'get_eval_batch_size', batch_size, num_devices)


def _check_batch_size(submission: Submission, function: str, batch_size, num_devices: int):
  if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
      or batch_size < 1:
    raise submission.error(function, f'must return a positive int, got {batch_size!r}.')
  batch_size = int(batch_size)
  if batch_size % num_devices:
    raise submission.error(
        function, f'batch size {batch_size} is not divisible by the {num_devices} devices.')
  return batch_size
