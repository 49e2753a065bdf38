"""AlgoPerf v0.5's calling convention (the pmap era), for submissions written for it.

AlgoPerf v0.5's JAX runner and workloads handed a submission its parameters and model
state replicated, with a leading device axis (`flax.jax_utils.replicate`), and its batches
as `(num_devices, per_device_batch, ...)` arrays; submissions trained with `jax.pmap(...,
axis_name='batch')` and returned state in the same form. The v0.6 runner (this project's
default) hands unreplicated state and global, sharded batches instead. A *calling
convention* converts between the runner's form and the submission's:

* `Convention` (v0.6, the default) is the identity.
* `LegacyPmapConvention` replicates params and model state onto every local device before
  `init_optimizer_state`, splits every train batch the submission draws into per-device
  rows, and hands the runner's evaluation the first replica of the params and the
  device-mean of the model state (v0.5 averaged per-device batch statistics before each
  eval: its `sync_batch_stats`). The runner keeps the submission's own form between steps
  (no per-step conversion) and checkpoints it as is, so a resume continues exactly.

Which one a trial uses is `--legacy_pmap`: 'on', 'off', or 'auto' (default), which reads
the submission's source (and its local helper modules) without running it: imports of the
old package name `algorithmic_efficiency`, or `jax.pmap` / `flax.jax_utils.replicate`, make
it a legacy submission, unless the same code also uses v0.6's sharding API (then it is
ambiguous, and the default convention runs with a warning). docs/legacy_submissions.md.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils, spec, submission, workload_view

logger = logging.getLogger(__name__)

MODES = ('auto', 'on', 'off')
DOC = 'docs/legacy_submissions.md'
OLD_PACKAGE = 'algorithmic_efficiency'

# Fully qualified names whose use marks pmap-era code.
_LEGACY_NAMES = {
    'jax.pmap': 'calls jax.pmap',
    'jax.api.pmap': 'calls jax.pmap',
    'flax.jax_utils.replicate': 'replicates state with flax.jax_utils.replicate',
    'flax.jax_utils.unreplicate': 'unreplicates state with flax.jax_utils.unreplicate',
    'jax.device_put_replicated': 'replicates state with jax.device_put_replicated',
}
# Prefixes of names that mark v0.6 (jit + sharding) code.
_MODERN_PREFIXES = {
    'algoperf.jax_sharding_utils': 'uses algoperf.jax_sharding_utils',
    'jax.sharding': 'uses jax.sharding',
    'jax.NamedSharding': 'uses jax.sharding',
    'jax.experimental.shard_map': 'uses shard_map',
    'jax.shard_map': 'uses shard_map',
}
_MODERN_KEYWORDS = {'in_shardings': 'jits with in_shardings/out_shardings',
                    'out_shardings': 'jits with in_shardings/out_shardings'}
# JAX names that JAX 0.6 removed from the top level and pmap-era code still calls.
_REMOVED_JAX_ALIASES = ('tree_map', 'tree_leaves', 'tree_flatten', 'tree_unflatten',
                        'tree_structure', 'tree_transpose', 'tree_reduce', 'tree_all')
_MAX_SCANNED_FILES = 64
# Marks the notes `Convention.adapt` adds to a submission's exceptions.
_NOTE_PREFIX = 'hint (calling convention): '


# --- static detection -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Evidence:
  what: str
  file: str
  line: int

  def __str__(self) -> str:
    return f'{self.what} ({os.path.basename(self.file)}:{self.line})'


@dataclasses.dataclass(frozen=True)
class Detection:
  """What the submission's source says about its calling convention."""
  legacy: tuple[Evidence, ...] = ()
  modern: tuple[Evidence, ...] = ()

  @property
  def verdict(self) -> str:
    """'legacy', 'default', or 'ambiguous' (both kinds of code)."""
    if self.legacy and self.modern:
      return 'ambiguous'
    return 'legacy' if self.legacy else 'default'

  def legacy_text(self) -> str:
    return '; '.join(str(e) for e in self.legacy)

  def modern_text(self) -> str:
    return '; '.join(str(e) for e in self.modern)


class _Scanner(ast.NodeVisitor):
  """Collects evidence from one module and the local modules it imports."""

  def __init__(self, path: str, legacy: dict, modern: dict, local: list[str]):
    self.path = path
    self.directory = os.path.dirname(path)
    self.aliases: dict[str, str] = {}
    self.legacy, self.modern, self.local = legacy, modern, local

  def _note(self, table: dict, what: str, node: ast.AST) -> None:
    table.setdefault(what, Evidence(what, self.path, getattr(node, 'lineno', 0)))

  def _qualified(self, qual: str, node: ast.AST) -> None:
    if qual in _LEGACY_NAMES:
      self._note(self.legacy, _LEGACY_NAMES[qual], node)
    for prefix, what in _MODERN_PREFIXES.items():
      if qual == prefix or qual.startswith(prefix + '.'):
        self._note(self.modern, what, node)
    if qual == OLD_PACKAGE or qual.startswith(OLD_PACKAGE + '.'):
      self._note(self.legacy, f'imports {OLD_PACKAGE} (AlgoPerf v0.5\'s package name)', node)

  def _local_module(self, dotted: str, level: int) -> None:
    if level > 1 or not dotted:
      return
    base = os.path.join(self.directory, *dotted.split('.'))
    for candidate in (base + '.py', os.path.join(base, '__init__.py')):
      if os.path.isfile(candidate):
        self.local.append(candidate)
        return

  def visit_Import(self, node: ast.Import) -> None:
    for alias in node.names:
      if alias.asname:
        self.aliases[alias.asname] = alias.name
      else:
        head = alias.name.split('.')[0]
        self.aliases[head] = head
      self._qualified(alias.name, node)
      self._local_module(alias.name, 0)

  def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
    module = node.module or ''
    if node.level:
      for alias in node.names:
        self._local_module(f'{module}.{alias.name}' if module else alias.name, node.level)
      self._local_module(module, node.level)
      return
    self._qualified(module, node)
    self._local_module(module, 0)
    for alias in node.names:
      qual = f'{module}.{alias.name}'
      self.aliases[alias.asname or alias.name] = qual
      self._qualified(qual, node)

  def _chain(self, node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
      parts.append(node.attr)
      node = node.value
    if not isinstance(node, ast.Name) or node.id not in self.aliases:
      return None
    return '.'.join([self.aliases[node.id], *reversed(parts)])

  def visit_Attribute(self, node: ast.Attribute) -> None:
    qual = self._chain(node)
    if qual is None:
      self.generic_visit(node)
    else:
      self._qualified(qual, node)

  def visit_Name(self, node: ast.Name) -> None:
    if node.id in self.aliases:
      self._qualified(self.aliases[node.id], node)

  def visit_keyword(self, node: ast.keyword) -> None:
    if node.arg in _MODERN_KEYWORDS:
      self._note(self.modern, _MODERN_KEYWORDS[node.arg], node.value)
    self.generic_visit(node)


def detect(path: str) -> Detection:
  """Read the submission at `path` (and the local modules it imports) for pmap-era and
  sharding-era code, never running it. A file that does not parse gives no evidence."""
  legacy: dict[str, Evidence] = {}
  modern: dict[str, Evidence] = {}
  pending, seen = [os.path.abspath(path)], set()
  while pending and len(seen) < _MAX_SCANNED_FILES:
    current = pending.pop(0)
    if current in seen:
      continue
    seen.add(current)
    try:
      with open(current, 'rb') as f:
        tree = ast.parse(f.read(), filename=current)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
      continue
    local: list[str] = []
    _Scanner(current, legacy, modern, local).visit(tree)
    pending.extend(os.path.abspath(p) for p in local)
  return Detection(tuple(legacy.values()), tuple(modern.values()))


# --- the conventions ----------------------------------------------------------------------

class Convention:
  """The default (AlgoPerf v0.6) calling convention: the runner's form is the submission's."""

  name = 'default'
  legacy = False

  def __init__(self, path: str = '', detection: Detection = Detection()):
    self.path = path  # the submission's file
    self.detection = detection  # what its source says (the hints use it)

  def view(self, workload, metrics_logger):
    """What the submission gets as `workload`."""
    return workload_view.SubmissionWorkload(workload, metrics_logger)

  def to_submission(self, params, model_state):
    """The runner's freshly initialised (params, model_state), in the submission's form."""
    return params, model_state

  def for_eval(self, params, model_state):
    """The submission's (params, model_state), in the form the runner evaluates."""
    return params, model_state

  def input_queue(self, queue):
    """The train queue as the submission's `data_selection` draws from it."""
    return queue

  def batch_for_runner(self, batch):
    """A batch in the submission's form, as the workload's functions take it (observers)."""
    return batch

  def adapt(self, sub):
    """The submission `sub` with each function's exceptions annotated with a calling-convention
    hint where one applies (the runner shows exception notes in its error message)."""
    def wrap(fn: Callable | None) -> Callable | None:
      if fn is None:
        return None

      @functools.wraps(fn)
      def call(*args, **kwargs):
        try:
          return fn(*args, **kwargs)
        except Exception as e:
          hint = self.hint(e)
          if hint and _NOTE_PREFIX + hint not in getattr(e, '__notes__', ()):
            e.add_note(_NOTE_PREFIX + hint)
          raise
      return call

    return dataclasses.replace(sub, **{
        name: wrap(getattr(sub, name)) for name in (
            'init_optimizer_state', 'update_params', 'data_selection', 'prepare_for_eval')})

  def hint(self, error: BaseException) -> str | None:
    """A hint for an exception the submission raised, or None."""
    if isinstance(error, spec.TrainingCompleteError | submission.SubmissionError):
      return None
    # Only for a purely pmap-era source (code that also uses v0.6's sharding is more
    # likely wrong in itself), or an error jax.pmap raised.
    if self.detection.verdict == 'legacy' or 'pmap' in str(error):
      why = self.detection.legacy_text() or 'its error comes from jax.pmap'
      return (f'this looks like an AlgoPerf v0.5 (pmap) submission ({why}), run in the '
              'default (v0.6) calling convention, which hands params and state unreplicated '
              'and batches as global arrays: run it with --legacy_pmap=on '
              f'({DOC}).')
    return None


class LegacyPmapConvention(Convention):
  """AlgoPerf v0.5's calling convention: replicated state, per-device batches."""

  name = 'legacy_pmap'
  legacy = True

  def __init__(self, path: str = '', detection: Detection = Detection()):
    super().__init__(path, detection)
    if jax.process_count() > 1:
      raise NotImplementedError('legacy pmap mode runs on a single host.')
    self.num_devices = jax.local_device_count()
    restore_removed_jax_aliases()

  def view(self, workload, metrics_logger):
    return LegacyWorkloadView(workload, metrics_logger)

  def to_submission(self, params, model_state):
    return _replicate(params), (None if model_state is None else _replicate(model_state))

  def for_eval(self, params, model_state):
    return _first_replica(params), (None if model_state is None
                                    else _device_mean(model_state))

  def input_queue(self, queue):
    return PerDeviceBatches(queue, self.per_device_batch)

  def batch_for_runner(self, batch):
    """Per-device rows `(num_devices, b, ...)` back into one global batch `(num_devices*b, ...)`."""
    return jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), batch)

  def per_device_batch(self, batch):
    """A global batch `(B, ...)` as `(num_devices, B // num_devices, ...)` rows, row i on
    device i (no data moves: each device's shard becomes its row)."""
    return _split_batch(batch)

  def hint(self, error: BaseException) -> str | None:
    if isinstance(error, spec.TrainingCompleteError | submission.SubmissionError):
      return None
    if self.detection.legacy:
      return None
    return (f'legacy pmap mode (--legacy_pmap=on) hands params, model_state and batches '
            f'with a leading device axis (of size {self.num_devices}), but this submission '
            'shows no pmap-era code: if it is written for AlgoPerf v0.6 (jit), run it with '
            f'--legacy_pmap=off or auto ({DOC}).')


DEFAULT = Convention()


def notes(error: BaseException) -> str:
  """The calling-convention hints `Convention.adapt` attached to `error` (as PEP 678
  notes), one '  hint:' line each, for a one-line error message; '' when there are none."""
  return ''.join(f'\n  hint: {note[len(_NOTE_PREFIX):]}'
                 for note in getattr(error, '__notes__', ()) if note.startswith(_NOTE_PREFIX))


def convention_name(mode: str, submission_path: str) -> str:
  """The name of the convention `for_trial` picks (without logging or building it): what a
  trial's meta data records as 'calling_convention'."""
  if mode == 'on' or (mode == 'auto' and detect(submission_path).verdict == 'legacy'):
    return LegacyPmapConvention.name
  return Convention.name


def for_trial(mode: str, submission_path: str) -> Convention:
  """The convention a trial of the submission at `submission_path` runs in, logged with why.

  `mode` is 'auto', 'on' or 'off' (`--legacy_pmap`)."""
  if mode not in MODES:
    raise ValueError(f'--legacy_pmap must be one of {", ".join(MODES)}, got {mode!r}.')
  detection = detect(submission_path) if submission_path else Detection()
  name = os.path.basename(submission_path) or 'the submission'
  if mode == 'on':
    logger.info('%s runs in legacy pmap mode (AlgoPerf v0.5 calling convention: replicated '
                'state, per-device batches), as --legacy_pmap=on asks.', name)
    if not detection.legacy:
      logger.warning('%s shows no pmap-era code (%s): if it is written for AlgoPerf v0.6 '
                     '(jit), it fails or trains on the wrong shapes in legacy pmap mode; '
                     'run it with --legacy_pmap=off or auto.', name,
                     detection.modern_text() or 'no jax.pmap, no algorithmic_efficiency')
    return LegacyPmapConvention(submission_path, detection)
  if mode == 'off':
    logger.info('%s runs in the default (AlgoPerf v0.6) calling convention, as '
                '--legacy_pmap=off asks.', name)
    return Convention(submission_path, detection)
  verdict = detection.verdict
  if verdict == 'legacy':
    logger.info('%s runs in legacy pmap mode (AlgoPerf v0.5 calling convention: replicated '
                'state, per-device batches) because it %s. --legacy_pmap=off overrides this.',
                name, detection.legacy_text())
    return LegacyPmapConvention(submission_path, detection)
  if verdict == 'ambiguous':
    logger.warning('%s has pmap-era code (%s) and v0.6 sharding code (%s): running it in the '
                   'default (v0.6) calling convention. If it is an AlgoPerf v0.5 (pmap) '
                   'submission, run it with --legacy_pmap=on.', name,
                   detection.legacy_text(), detection.modern_text())
  else:
    logger.info('%s runs in the default (AlgoPerf v0.6) calling convention: no pmap-era '
                'code found.', name)
  return Convention(submission_path, detection)


def shape_mismatch_hint(shapes: list, reference_shapes: list) -> str:
  """Why returned params' leaf shapes differ from the expected ones, when a leading device
  axis explains it (a submission run in the other calling convention); else ''."""
  n = jax.local_device_count()
  pairs = [(tuple(s), tuple(r)) for s, r in zip(shapes, reference_shapes, strict=True)
           if s is not None and r is not None]
  if not pairs:
    return ''
  if all(s == (n, *r) for s, r in pairs):
    return (f' They have a leading device axis of size {n}: this looks like an AlgoPerf v0.5 '
            '(pmap) submission, run in the default (v0.6) calling convention; run it with '
            f'--legacy_pmap=on ({DOC}).')
  if all(r == (n, *s) for s, r in pairs):
    return (f' They lack the leading device axis (of size {n}) that legacy pmap mode hands '
            'out: this looks like an AlgoPerf v0.6 (jit) submission; run it with '
            f'--legacy_pmap=off ({DOC}).')
  return ''


def restore_removed_jax_aliases() -> list[str]:
  """Put back the top-level `jax.tree_*` aliases JAX 0.6 removed (pmap-era code calls
  `jax.tree_map`), as the `jax.tree_util` functions they were. Names JAX still has are left
  alone. Returns the names it added."""
  added = []
  for name in _REMOVED_JAX_ALIASES:
    with warnings.catch_warnings():  # JAX 0.4.26-0.5 still has them, deprecated
      warnings.simplefilter('ignore', DeprecationWarning)
      present = hasattr(jax, name)
    if not present and hasattr(jax.tree_util, name):
      setattr(jax, name, getattr(jax.tree_util, name))
      added.append(name)
  return added


# --- the conversions -------------------------------------------------------------------

@functools.cache
def _shardings():
  # P('batch') over the runner's mesh is exactly what jax.pmap's outputs carry.
  return (jax_sharding_utils.get_batch_dim_sharding(),
          jax_sharding_utils.get_replicate_sharding())


@functools.cache
def _jitted(kind: str):
  per_device, replicated = _shardings()
  n = jax.local_device_count()

  def replicate(tree):
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), tree)

  def first(tree):
    return jax.tree.map(lambda x: x[0] if _has_device_axis(x, n) else x, tree)

  def mean(tree):
    def reduce(x):
      if not _has_device_axis(x, n):
        return x
      return jnp.mean(x, axis=0) if jnp.issubdtype(x.dtype, jnp.inexact) else x[0]
    return jax.tree.map(reduce, tree)

  def split(batch):
    def rows(x):
      if jnp.ndim(x) == 0 or x.shape[0] % n:
        raise ValueError(f'a batch leaf of shape {jnp.shape(x)} cannot be split into {n} '
                         'per-device rows along its leading axis.')
      return x.reshape((n, x.shape[0] // n, *x.shape[1:]))
    return jax.tree.map(rows, batch)

  fn, out = {'replicate': (replicate, per_device), 'first': (first, replicated),
             'mean': (mean, replicated), 'split': (split, per_device)}[kind]
  return jax.jit(fn, out_shardings=out)


def _has_device_axis(x, n: int) -> bool:
  shape = getattr(x, 'shape', ())
  return len(shape) >= 1 and shape[0] == n


def _replicate(tree):
  return _jitted('replicate')(tree)


def _first_replica(tree):
  return _jitted('first')(tree)


def _device_mean(tree):
  return _jitted('mean')(tree)


def _split_batch(batch):
  return _jitted('split')(batch)


class PerDeviceBatches(Iterator):
  """The runner's train queue, each batch split into per-device rows. Position (get_state,
  set_state) and prefetching are the wrapped queue's."""

  def __init__(self, queue, split: Callable[[Any], Any]):
    self._queue = queue
    self._split = split
    if hasattr(queue, 'prefetch'):
      self.prefetch = queue.prefetch

  def __next__(self):
    return self._split(next(self._queue))

  def get_state(self):
    return self._queue.get_state()

  def set_state(self, state):
    self._queue.set_state(state)


def _legacy_model_fn(model_fn: Callable) -> Callable:
  """`workload.model_fn` with v0.5's optional `use_running_average_bn` (normalise with the
  running batch statistics and leave them unchanged) and `aux_dropout_rate` (unused)."""

  def legacy_model_fn(params, augmented_and_preprocessed_input_batch, model_state, mode, rng,
                      update_batch_norm, use_running_average_bn=None, dropout_rate=None,
                      aux_dropout_rate=None):
    del aux_dropout_rate
    kwargs = {} if dropout_rate is None else {'dropout_rate': dropout_rate}
    if use_running_average_bn and update_batch_norm:
      logits, _ = model_fn(params, augmented_and_preprocessed_input_batch, model_state, mode,
                           rng, update_batch_norm=False, **kwargs)
      return logits, model_state
    return model_fn(params, augmented_and_preprocessed_input_batch, model_state, mode, rng,
                    update_batch_norm=update_batch_norm, **kwargs)

  legacy_model_fn.__name__ = legacy_model_fn.__qualname__ = 'model_fn'
  legacy_model_fn.__doc__ = model_fn.__doc__
  return legacy_model_fn


class LegacyWorkloadView(workload_view.SubmissionWorkload):
  """The submission's workload view in legacy pmap mode: the same members, with `model_fn`
  accepting AlgoPerf v0.5's keywords. Inside the submission's pmap, `model_fn` and
  `loss_fn` act on one device's rows, as v0.5's did."""

  __slots__ = ()

  def __init__(self, workload, metrics_logger, preemption_count: int = 0):
    super().__init__(workload, metrics_logger, preemption_count)
    self._methods['model_fn'] = _legacy_model_fn(
        workload_view._without_self(workload.model_fn))

  def __repr__(self):
    return f'<SubmissionWorkload of {type(self._workload).__name__} (legacy pmap mode)>'
