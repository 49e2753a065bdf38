"""Load a submission file and check it against the contract before any training starts.

Every violation is reported as one `SubmissionError` naming the file, the function and the
rule broken, at load time where possible rather than minutes into a run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import logging
import numbers
import os
import signal
import sys
from collections.abc import Callable
from types import ModuleType

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

  def error(self, function: str, rule: str) -> SubmissionError:
    return SubmissionError(f'{self.path}: {function}: {rule}')


def load_submission(path: str) -> Submission:
  """Import the submission at `path` and check its functions' presence and signatures."""
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.isfile(path):
    raise SubmissionError(f'{path}: no such submission file.')
  if not path.endswith('.py'):
    raise SubmissionError(f'{path}: a submission must be a Python (.py) file.')
  module = _import_file(path)

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
      path=path, module=module,
      update_params_accepts_train_state=_accepts_keyword(fns['update_params'], 'train_state'),
      **fns)


def _import_file(path: str) -> ModuleType:
  # Sibling modules of the submission must be importable, as they are under AlgoPerf.
  directory = os.path.dirname(path)
  if directory not in sys.path:
    sys.path.insert(0, directory)
  module_name = f'_algoperf_submission_{abs(hash(path))}'
  spec = importlib.util.spec_from_file_location(module_name, path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except BaseException as e:  # The submission's own import failed (or exited): say where.
    if is_users_interrupt(e):
      raise
    raise SubmissionError(
        f'{path}: importing the submission raised {type(e).__name__}: {e}') from e
  return module


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
