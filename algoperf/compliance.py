"""A static compliance check of a submission: code that reaches past the submission API.

A submission may use what the runner hands it (the `workload` argument's documented
members, the batches of `input_queue`, `eval_results`, `workload.metrics_logger`'s
`append_scalar_metrics`) and `algoperf.spec` / `algoperf.jax_sharding_utils`. This module
reads the submission's source, and that of the local modules it imports, with `ast` and
reports code that goes further: the workload's private members or held-out data, writes
to the workload or to imported modules, frame and heap introspection, file access,
process control, imports of the runner, and log columns the runner owns.

It never imports or runs the code it checks (that would run the very code under review),
so a determined cheater can evade it with dynamic code; `dynamic-code` findings mark the
places where this check goes blind. It is a reviewer's aid and an early warning for honest
mistakes, not a sandbox: the runner does not rely on it, and runs each trial in a process
of its own (docs/compliance.md says what the check cannot see).

Allowed from the benchmark: `algoperf.spec` and `algoperf.jax_sharding_utils` only (an
allow-list, so new runner modules are covered). The shared libraries of
`reference_algorithms/`, the standard library (minus the modules flagged below) and
third-party packages are fine; only the submission's own modules are scanned.

Severity: every finding is a 'warning' (a caller may turn warnings into errors, e.g. under
--strict), except `environment-access`, a 'note': reading environment variables is mostly
harmless (JAX/XLA settings) but can carry runner configuration, so it is listed for a
reviewer without being worth failing a strict run.

The analysis is flow-insensitive: a name is taken to hold everything ever assigned to it
in its scope (so `w = workload` anywhere makes `w` the workload), and arguments passed to
functions of the scanned modules carry the workload into their parameters.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import os
import re
from collections.abc import Iterable, Iterator

# --- findings ---------------------------------------------------------------------------

PRIVATE = 'private-workload-attribute'
HELD_OUT = 'held-out-data'
WORKLOAD_WRITE = 'workload-write'
MODULE_PATCH = 'module-patch'
INTROSPECTION = 'introspection'
DYNAMIC_CODE = 'dynamic-code'
FILE_ACCESS = 'file-access'
ENVIRONMENT = 'environment-access'
PROCESS = 'process-control'
RUNNER_ACCESS = 'runner-access'
RESERVED_LOG = 'reserved-log-column'
RUNNER_STATE = 'runner-state-write'

RULES = {
    PRIVATE: 'reads private members of the workload or of its metrics logger',
    HELD_OUT: 'uses the held-out (validation/test) data, evaluation or targets of the workload',
    WORKLOAD_WRITE: 'changes the workload or its metrics logger',
    MODULE_PATCH: 'assigns into an imported module (monkeypatching time, jax, algoperf, ...)',
    INTROSPECTION: 'reads stack frames, closures, the heap or sys.modules',
    DYNAMIC_CODE: 'builds or imports code at run time, out of sight of this check',
    FILE_ACCESS: 'reads or lists files, or names a dataset location',
    ENVIRONMENT: 'reads or sets environment variables (a note)',
    PROCESS: 'exits, signals, or works in threads or processes outside the timed calls',
    RUNNER_ACCESS: 'imports or reads the runner: algoperf beyond spec/jax_sharding_utils, '
                   'workloads, command-line flags',
    RESERVED_LOG: 'writes log columns the runner owns through the metrics logger',
    RUNNER_STATE: 'mutates eval_results, the runner\'s record of evaluations',
}
NOTE_RULES = frozenset({ENVIRONMENT})


@dataclasses.dataclass(frozen=True)
class Finding:
  """One place in a scanned file that goes past the submission API."""
  path: str
  line: int
  rule: str
  message: str

  @property
  def severity(self) -> str:
    """'note' for the rules in NOTE_RULES, else 'warning' (see the module docstring)."""
    return 'note' if self.rule in NOTE_RULES else 'warning'

  def __str__(self) -> str:
    return f'{self.path}:{self.line}: {self.rule}: {self.message}'


# --- what is flagged, and why ----------------------------------------------------------

_FRAMES_WHY = ('frames, closures and the heap reach the runner\'s own objects (its clock, '
               'data and evaluation), which a submission must not touch.')
_CTYPES_WHY = 'raw memory access reaches and can change any object of the runner.'
_MODULES_WHY = 'sys.modules hands out any loaded module, the runner\'s included, without an import.'
_EXIT_WHY = 'ending the process from a submission cuts the trial short behind the runner\'s back.'
_CHILD_WHY = ('child processes and threads keep working outside the timed calls, so their '
              'time is not billed, and escape the trial\'s isolation.')
_SIGNAL_WHY = 'signal handlers and signals can interrupt or redirect the runner.'
_ATEXIT_WHY = 'exit hooks run after the trial, when the runner no longer measures or logs.'
_FILE_WHY = ('a submission gets its data only from input_queue; reading files can reach '
             'held-out data, other trials\' logs or precomputed results.')
_DATASET_WHY = ('reading dataset files directly can reach the held-out validation/test '
                'data; a submission gets training data only from input_queue.')
_ENV_WHY = ('environment variables can carry the runner\'s configuration, such as data '
            'locations; usually harmless, listed for review.')
_FLAGS_WHY = ('the runner\'s command line includes the data and experiment directories, '
              'which a submission has no business reading.')
_DYNAMIC_WHY = 'code built or imported at run time is invisible to this check and to reviewers.'
_RUNNER_WHY = ('a submission may use only algoperf.spec and algoperf.jax_sharding_utils '
               'from the benchmark; the rest is the runner\'s (clock, logs, checkpoints, '
               'scoring, data) and touching it can change what is measured.')
_WORKLOADS_WHY = ('workload implementations hold the input pipelines and the evaluation of '
                  'the held-out splits; a submission gets its workload only as the '
                  '`workload` argument.')
_PATCH_WHY = ('patching imported modules (time, jax, algoperf, ...) can change the clock, '
              'the evaluation or the logging the runner relies on.')


def _rules(rule: str, why: str, *names: str) -> dict[str, tuple[str, str]]:
  return dict.fromkeys(names, (rule, why))


# Fully qualified names (after resolving imports and aliases) whose mere use is a finding.
_MEMBERS = {
    **_rules(INTROSPECTION, _FRAMES_WHY, 'sys._getframe', 'sys._current_frames',
             'sys._current_exceptions', 'sys.settrace', 'sys.setprofile',
             'inspect.currentframe', 'inspect.stack', 'inspect.trace', 'inspect.getouterframes',
             'inspect.getinnerframes', 'inspect.getclosurevars', 'gc.get_objects',
             'gc.get_referrers', 'gc.get_referents', 'gc.garbage', 'traceback.walk_stack',
             'traceback.walk_tb'),
    **_rules(INTROSPECTION, _MODULES_WHY, 'sys.modules'),
    **_rules(PROCESS, _EXIT_WHY, 'sys.exit', 'builtins.exit', 'builtins.quit', 'os._exit',
             'os.abort', 'os.kill', 'os.killpg'),
    **_rules(PROCESS, _CHILD_WHY, 'os.fork', 'os.forkpty', 'os.system', 'os.popen',
             'os.register_at_fork'),
    **_rules(FILE_ACCESS, _FILE_WHY, 'builtins.open', 'io.open', 'io.FileIO', 'os.open',
             'os.fdopen', 'os.listdir', 'os.scandir', 'os.walk', 'os.fwalk', 'os.path.exists',
             'os.path.isfile', 'os.path.isdir', 'os.path.getsize', 'numpy.load',
             'numpy.loadtxt', 'numpy.genfromtxt', 'numpy.fromfile', 'numpy.memmap',
             'numpy.lib.format.open_memmap', 'jax.numpy.load', 'pickle.load',
             'pickle.Unpickler', 'json.load', 'tarfile.open', 'zipfile.ZipFile', 'gzip.open',
             'h5py.File'),
    **_rules(ENVIRONMENT, _ENV_WHY, 'os.environ', 'os.environb', 'os.getenv', 'os.putenv',
             'os.unsetenv'),
    **_rules(RUNNER_ACCESS, _FLAGS_WHY, 'absl.flags.FLAGS', 'sys.argv', 'sys.orig_argv'),
    **_rules(DYNAMIC_CODE, _DYNAMIC_WHY, 'builtins.eval', 'builtins.exec', 'builtins.compile',
             'builtins.__import__', 'importlib.import_module', 'importlib.__import__',
             'importlib.reload', 'types.CodeType', 'types.FunctionType', 'marshal.loads',
             'pickle.loads'),
}
# Families of names, matched by prefix.
_MEMBER_PREFIXES = (
    ('os.exec', PROCESS, _CHILD_WHY),
    ('os.spawn', PROCESS, _CHILD_WHY),
    ('os.posix_spawn', PROCESS, _CHILD_WHY),
    ('shutil.', FILE_ACCESS, _FILE_WHY),
    ('pandas.read_', FILE_ACCESS, _FILE_WHY),
    ('tensorflow.io.gfile', FILE_ACCESS, _FILE_WHY),
    ('tensorflow.data', FILE_ACCESS, _FILE_WHY),
    ('importlib.util.', DYNAMIC_CODE, _DYNAMIC_WHY),
    ('importlib.machinery.', DYNAMIC_CODE, _DYNAMIC_WHY),
)
# Modules (and their submodules) whose import is already the finding.
_MODULES = {
    **_rules(PROCESS, _CHILD_WHY, 'subprocess', 'multiprocessing', 'threading', '_thread',
             'concurrent.futures', 'pty'),
    **_rules(PROCESS, _SIGNAL_WHY, 'signal'),
    **_rules(PROCESS, _ATEXIT_WHY, 'atexit'),
    **_rules(INTROSPECTION, _CTYPES_WHY, 'ctypes', '_ctypes'),
    **_rules(FILE_ACCESS, _FILE_WHY, 'glob', 'tensorflow_datasets', 'orbax',
             'flax.training.checkpoints'),
    **_rules(DYNAMIC_CODE, _DYNAMIC_WHY, 'runpy'),
    **_rules(RUNNER_ACCESS, _WORKLOADS_WHY, 'workloads'),
}
# The benchmark's own top-level modules: never followed as submission code, and only the
# allowed parts may be imported.
_BENCHMARK_TOPS = frozenset({'algoperf', 'workloads', 'submission_runner', 'run_suite',
                             'score_submissions', 'analyze_runs', 'baselines'})
_ALLOWED_BENCHMARK = ('algoperf.spec', 'algoperf.jax_sharding_utils')  # and bare `algoperf`
# Attributes of any object that only introspection needs.
_ATTRIBUTES = _rules(INTROSPECTION, _FRAMES_WHY, 'f_back', 'f_locals', 'f_globals',
                     'f_builtins', 'tb_frame', 'gi_frame', 'cr_frame', 'ag_frame', '__self__',
                     '__closure__', '__globals__', '__code__', '__subclasses__', '__builtins__')

# Workload members a submission may use though they name a held-out split.
_ALLOWED_SPLIT_COUNTS = frozenset({'num_validation_examples', 'num_test_examples'})
# Dunders of the workload that say only what class it is.
_HARMLESS_DUNDERS = frozenset({'__class__', '__name__', '__qualname__', '__module__', '__doc__'})
_WORKLOAD_MUTATORS = frozenset({'attach_metrics_logger', 'set_param_shapes_and_types',
                                '__setattr__', '__delattr__', '__setstate__', '__init__'})
_EVAL_ENTRY_POINTS = frozenset({'eval_model', '_eval_model_on_split', '_eval_iters'})
_INPUT_ENTRY_POINTS = frozenset({'_build_input_queue', 'build_input_queue', 'splits',
                                 'load_split', 'load_splits'})
_HELD_OUT_TOKENS = frozenset({'validation', 'valid', 'val', 'test', 'split', 'splits',
                              'heldout', 'holdout'})
_LOGGER_API = 'append_scalar_metrics'

# Columns of measurements.csv the runner writes (algoperf.logs.RUNNER_COLUMNS) and the
# prefixes of its evaluation metrics.
RESERVED_LOG_COLUMNS = frozenset({
    'global_step', 'preemption_count', 'score', 'accumulated_submission_time',
    'accumulated_eval_time', 'accumulated_logging_time', 'total_duration',
    'ensemble_members', 'ensemble_extra_bytes'})
RESERVED_LOG_PREFIXES = ('train/', 'validation/', 'test/', 'last_member/')

_WHOLE_OBJECT_READS = frozenset({'builtins.vars', 'inspect.getmembers'})
_EVAL_RESULTS_WHY = ('eval_results is the runner\'s own record of past evaluations '
                     '(checkpointed and reported); a submission may only read it.')
_RESERVED_WHY = ('the runner writes the step, time and score columns and the train/, '
                 'validation/ and test/ metrics (and eval rows); a submission writing them can '
                 'overwrite or fake measured results.')
_LIST_MUTATORS = frozenset({'append', 'extend', 'insert', 'pop', 'remove', 'clear', 'sort',
                            'reverse', 'update', 'popitem', 'setdefault', '__setitem__',
                            '__delitem__', '__iadd__'})
_PATH_METHODS = frozenset({'read_text', 'read_bytes', 'write_text', 'write_bytes', 'open',
                           'iterdir', 'glob', 'rglob', 'exists', 'is_file', 'is_dir', 'stat',
                           'unlink', 'touch'})
_PATH_TYPES = frozenset({'pathlib.Path', 'pathlib.PurePath', 'pathlib.PosixPath'})
# Where datasets live: named anywhere in code, these are a finding on their own.
_DATASET_LOCATIONS = ('/usr/share/datasets', 'tensorflow_datasets')
# What a path handed to a file function may mention to point at a dataset.
_DATASET_PATHS = _DATASET_LOCATIONS + ('data_dir', 'dataset', 'tfds', '.tfrecord',
                                       'array_record')
_SPLIT_WORD = re.compile(r'(?<![a-z])(validation|valid|val|test)(?![a-z])')


# --- abstract values -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Ref:
  """What an expression may evaluate to, as far as the rules care.

  kind: 'qual' (an imported module or member, `name` its qualified name), 'workload',
  'logger' (workload.metrics_logger), 'log_fn' (its append_scalar_metrics), 'eval_results'
  (the runner's list), 'eval_item' (something inside it), 'str' (a known string, '{}' for
  parts only known at run time), 'path' (a pathlib path), 'def'/'class' (a function or
  class of a scanned module, `node`), 'dict' (a dict display, `node`).
  """
  kind: str
  name: str = ''
  node: ast.AST | None = None


_WORKLOAD = _Ref('workload')
_LOGGER = _Ref('logger')
_LOG_FN = _Ref('log_fn')
_EVAL_RESULTS = _Ref('eval_results')
_EVAL_ITEM = _Ref('eval_item')
_PATH = _Ref('path')
_HPARAMS = _Ref('hyperparameters')  # not a rule's concern: tracked for hyperparameters_read
_RUNNER_OBJECTS = frozenset({_WORKLOAD, _LOGGER, _LOG_FN, _EVAL_RESULTS, _EVAL_ITEM, _HPARAMS})
_EVAL_STATE = frozenset({_EVAL_RESULTS, _EVAL_ITEM})
# Bounds on what one name may hold, so that loops like `s = s + 'x'` or `m = m.parent` do
# not grow values forever: known strings (and imported names) per name, and name depth.
_MAX_STRINGS = 16
_MAX_QUALS = 16
_MAX_QUAL_PARTS = 8
_MAX_ROUNDS = 64  # safety bound on the fixpoint over all modules


def _qual(name: str) -> _Ref:
  return _Ref('qual', name)


def _quals(refs: Iterable[_Ref]) -> list[str]:
  return sorted(r.name for r in refs if r.kind == 'qual')


def _strings(refs: Iterable[_Ref]) -> list[str]:
  return sorted(r.name for r in refs if r.kind == 'str')


def _join(base: str, name: str) -> str:
  return f'{base}.{name}' if base else name


def _shown(qual: str) -> str:
  return qual.removeprefix('builtins.')


class _Scope:
  """A Python scope: the names it binds and what each may hold."""

  def __init__(self, node: ast.AST, parent: _Scope | None, kind: str):
    self.node, self.parent, self.kind = node, parent, kind
    self.module_scope: _Scope = parent.module_scope if parent else self
    self.bound: set[str] = set()
    self.globals: set[str] = set()
    self.nonlocals: set[str] = set()
    self.values: dict[str, set[_Ref]] = {}

  def owner(self, name: str) -> _Scope | None:
    """The scope whose binding `name` means here; class bodies are invisible to nested
    scopes, as in Python. None: a builtin or an unbound name."""
    if name in self.globals:
      return self.module_scope
    if name in self.bound:
      return self
    scope = self.parent
    while scope is not None:
      if scope.kind != 'class':
        if name in scope.globals:
          return self.module_scope
        if name in scope.bound:
          return scope
      scope = scope.parent
    return None

  def function_scope(self) -> _Scope:
    """Where a walrus binds: the nearest scope that is not a comprehension."""
    scope = self
    while scope.kind == 'comprehension':
      scope = scope.parent
    return scope


def _bind(scope: _Scope, name: str, refs: Iterable[_Ref]) -> bool:
  """Add `refs` to what `name` may hold; True if that grew."""
  return _grow(scope.values.setdefault(name, set()), refs)


def _grow(current: set[_Ref], refs: Iterable[_Ref]) -> bool:
  """Add `refs` to `current` within the bounds above; True if it grew."""
  new = set(refs) - current
  for kind, limit in (('str', _MAX_STRINGS), ('qual', _MAX_QUALS)):
    if sum(r.kind == kind for r in current) >= limit:
      new = {r for r in new if r.kind != kind}
  current |= new
  return bool(new)


def _slot(node: ast.AST) -> str | None:
  """"a.b['k'].c" for a chain of names, attributes and constant subscripts, else None:
  where `self.w = workload` or `STATE['w'] = workload` keeps a value, module-wide."""
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, (ast.Attribute, ast.Subscript)):
    base = _slot(node.value)
    if base is None:
      return None
    if isinstance(node, ast.Attribute):
      return f'{base}.{node.attr}'
    if isinstance(node.slice, ast.Constant):
      return f'{base}[{node.slice.value!r}]'
  return None


def _every_arg(args: ast.arguments) -> list[ast.arg]:
  return args.posonlyargs + args.args + args.kwonlyargs + [
      a for a in (args.vararg, args.kwarg) if a is not None]


def _param_refs(arg: ast.arg) -> set[_Ref]:
  """What a parameter holds on entry, from its name or annotation alone."""
  annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ''
  if arg.arg == 'workload' or annotation.endswith('Workload'):
    return {_WORKLOAD}
  if arg.arg == 'eval_results':
    return {_EVAL_RESULTS}
  if arg.arg == 'hyperparameters':
    return {_HPARAMS}
  return set()


# --- one module: scopes, bindings, values ----------------------------------------------

class _ScopeBuilder(ast.NodeVisitor):
  """Record each node's scope, each scope's names, and the assignments and calls whose
  values the fixpoint propagates."""

  def __init__(self, module: _Module):
    self.m = module
    self.scope = module.root

  def visit(self, node: ast.AST) -> None:
    self.m.scope_of[node] = self.scope
    super().visit(node)

  def _enter(self, node: ast.AST, kind: str) -> _Scope:
    return _Scope(node, self.scope, kind)

  def _declare(self, name: str, *refs: _Ref) -> None:
    scope = self.scope
    if name in scope.globals:
      scope = scope.module_scope
    elif name in scope.nonlocals:
      scope = scope.parent.owner(name) or scope.parent
    scope.bound.add(name)
    if refs:
      _bind(scope, name, refs)

  def _in_scope(self, scope: _Scope, nodes: Iterable[ast.AST]) -> None:
    outer, self.scope = self.scope, scope
    for node in nodes:
      self.visit(node)
    self.scope = outer

  def _signature_defaults(self, args: ast.arguments) -> None:
    """Defaults and annotations are evaluated where the function is defined."""
    for node in args.defaults + [d for d in args.kw_defaults if d is not None]:
      self.visit(node)
    for arg in _every_arg(args):
      if arg.annotation is not None:
        self.visit(arg.annotation)

  def _parameters(self, fn: ast.FunctionDef | ast.Lambda, scope: _Scope) -> None:
    """Bind the parameters in the function's scope; record them for calls to seed."""
    outer, self.scope = self.scope, scope
    for arg in _every_arg(fn.args):
      self.m.scope_of[arg] = scope
      self._declare(arg.arg, *_param_refs(arg))
    self.scope = outer
    positional = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    self.m.project.params[fn] = (scope, positional, {a.arg for a in fn.args.kwonlyargs})
    if fn.args.kwarg is not None:  # `def update_params(**kwargs)`: kwargs['workload']
      for name, ref in (('workload', _WORKLOAD), ('eval_results', _EVAL_RESULTS),
                        ('hyperparameters', _HPARAMS)):
        _grow(self.m.slot_values.setdefault(f'{fn.args.kwarg.arg}[{name!r}]', set()), {ref})

  def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
    self._declare(node.name, _Ref('def', node=node))
    for decorator in node.decorator_list:
      self.visit(decorator)
    self._signature_defaults(node.args)
    if node.returns is not None:
      self.visit(node.returns)
    scope = self._enter(node, 'function')
    self._parameters(node, scope)
    self._in_scope(scope, node.body)

  visit_AsyncFunctionDef = visit_FunctionDef

  def visit_Lambda(self, node: ast.Lambda) -> None:
    self._signature_defaults(node.args)
    scope = self._enter(node, 'function')
    self._parameters(node, scope)
    self._in_scope(scope, [node.body])

  def visit_ClassDef(self, node: ast.ClassDef) -> None:
    self._declare(node.name, _Ref('class', node=node))
    for child in node.decorator_list + node.bases + node.keywords:
      self.visit(child)
    self._in_scope(self._enter(node, 'class'), node.body)

  def _visit_comprehension(self, node: ast.AST) -> None:
    first, *rest = node.generators
    self.visit(first.iter)  # evaluated in the enclosing scope, as in Python
    scope = self._enter(node, 'comprehension')
    self.m.scope_of[first] = scope
    self.m.events.append(('iterate', scope, first.target, first.iter))
    parts = [first.target, *first.ifs, *rest]
    parts += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    self._in_scope(scope, parts)

  visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _visit_comprehension

  def visit_comprehension(self, node: ast.comprehension) -> None:
    self.m.events.append(('iterate', self.scope, node.target, node.iter))
    self.generic_visit(node)

  def visit_Global(self, node: ast.Global) -> None:
    self.scope.globals.update(node.names)
    self.scope.module_scope.bound.update(node.names)

  def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
    self.scope.nonlocals.update(node.names)

  def visit_Name(self, node: ast.Name) -> None:
    if isinstance(node.ctx, (ast.Store, ast.Del)):
      self._declare(node.id)

  def visit_Import(self, node: ast.Import) -> None:
    for alias in node.names:
      top = alias.name.split('.')[0]
      self._declare(alias.asname or top, _qual(alias.name if alias.asname else top))
      self.m.imports.append(alias.name)

  def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
    base = self.m.resolve_from(node)
    if base is None:  # unresolvable: the names exist, what they hold is unknown
      for alias in node.names:
        self._declare(alias.asname or alias.name)
      return
    self.m.imports.append(base)
    for alias in node.names:
      if alias.name != '*':
        self._declare(alias.asname or alias.name, _qual(_join(base, alias.name)))
        self.m.imports.append(_join(base, alias.name))

  def visit_Assign(self, node: ast.Assign) -> None:
    for target in node.targets:
      self.m.events.append(('assign', self.scope, target, node.value))
    self.generic_visit(node)

  def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
    if node.value is not None:
      self.m.events.append(('assign', self.scope, node.target, node.value))
    self.generic_visit(node)

  def visit_For(self, node: ast.For) -> None:
    self.m.events.append(('iterate', self.scope, node.target, node.iter))
    self.generic_visit(node)

  visit_AsyncFor = visit_For

  def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
    scope = self.scope.function_scope()
    self._in_scope(scope, [node.target])
    self.m.scope_of[node.target] = scope
    self.m.events.append(('assign', scope, node.target, node.value))
    self.visit(node.value)

  def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
    if node.name:
      self._declare(node.name)
    self.generic_visit(node)

  def visit_MatchAs(self, node: ast.MatchAs) -> None:
    if node.name:
      self._declare(node.name)
    self.generic_visit(node)

  def visit_MatchStar(self, node: ast.MatchStar) -> None:
    if node.name:
      self._declare(node.name)

  def visit_Call(self, node: ast.Call) -> None:
    self.m.calls.append((self.scope, node))
    self.generic_visit(node)


class _Module:
  """One scanned source file: its syntax tree, scopes, and what its names may hold."""

  def __init__(self, project: _Project, path: str, name: str, tree: ast.Module):
    self.project, self.path, self.name, self.tree = project, path, name, tree
    self.is_package = os.path.basename(path) == '__init__.py'
    self.root = _Scope(tree, None, 'module')
    self.scope_of: dict[ast.AST, _Scope] = {}
    self.events: list[tuple[str, _Scope, ast.AST, ast.AST]] = []
    self.calls: list[tuple[_Scope, ast.Call]] = []
    self.slot_values: dict[str, set[_Ref]] = {}  # 'self.wl' -> what was stored there
    self.imports: list[str] = []
    _ScopeBuilder(self).visit(tree)

  def resolve_from(self, node: ast.ImportFrom) -> str | None:
    """The absolute module a `from ... import` reads from ('' for `from . import x` at
    the top); None when a relative import climbs above the submission's package."""
    if node.level == 0:
      return node.module
    package = self.name.split('.') if self.is_package else self.name.split('.')[:-1]
    drop = node.level - 1
    if drop > len(package):
      return None
    return _join('.'.join(package[:len(package) - drop]), node.module or '')

  # values ------------------------------------------------------------------------------

  def values(self, node: ast.AST, scope: _Scope | None = None) -> set[_Ref]:
    """What `node` may evaluate to (flow-insensitive, see _Ref)."""
    scope = scope or self.scope_of.get(node, self.root)
    handler = getattr(self, f'_values_{type(node).__name__}', None)
    return handler(node, scope) if handler else set()

  def _values_Name(self, node: ast.Name, scope: _Scope) -> set[_Ref]:
    owner = scope.owner(node.id)
    if owner is not None:
      return set(owner.values.get(node.id, ()))
    if hasattr(builtins, node.id):
      return {_qual(f'builtins.{node.id}')}
    return set()

  def _values_Attribute(self, node: ast.Attribute, scope: _Scope) -> set[_Ref]:
    refs = {d for r in self.values(node.value, scope) for d in _derive(r, node.attr)}
    return refs | self._slot_values(node)

  def _slot_values(self, node: ast.AST) -> set[_Ref]:
    return set(self.slot_values.get(_slot(node) or '', ())) if self.slot_values else set()

  def _values_Subscript(self, node: ast.Subscript, scope: _Scope) -> set[_Ref]:
    base = self.values(node.value, scope)
    refs = {_EVAL_ITEM} if base & _EVAL_STATE else set()
    if _qual('sys.modules') in base:
      refs |= {_qual(s) for s in _strings(self.values(node.slice, scope))}
    return refs | self._slot_values(node)

  def _values_Call(self, node: ast.Call, scope: _Scope) -> set[_Ref]:
    refs = set()
    func = self.values(node.func, scope)
    names = [self.values(a, scope) for a in node.args[:2]]
    for qual in _quals(func):
      if qual == 'builtins.getattr' and len(names) == 2:
        refs |= {d for r in names[0] for s in _strings(names[1]) for d in _derive(r, s)}
      elif qual == 'builtins.type' and len(names) == 1:
        refs |= names[0] & {_WORKLOAD}
      elif qual in ('importlib.import_module', 'builtins.__import__') and names:
        refs |= {_qual(s) for s in _strings(names[0]) if not s.startswith('.')}
      elif qual in _PATH_TYPES:
        refs.add(_PATH)
    if isinstance(node.func, ast.Attribute) and _PATH in self.values(node.func.value, scope):
      refs.add(_PATH)
    if isinstance(node.func, ast.Attribute) and node.func.attr == 'get' and names:
      base = _slot(node.func.value)  # `d.get('k')` reads what `d['k']` holds
      for key in _strings(names[0]):
        refs |= self.slot_values.get(f'{base}[{key!r}]', set()) if base else set()
    return refs

  def _values_Constant(self, node: ast.Constant, scope: _Scope) -> set[_Ref]:
    return {_Ref('str', node.value)} if isinstance(node.value, str) else set()

  def _values_JoinedStr(self, node: ast.JoinedStr, scope: _Scope) -> set[_Ref]:
    parts = [v.value if isinstance(v, ast.Constant) else '{}' for v in node.values]
    return {_Ref('str', ''.join(parts))}

  def _values_BinOp(self, node: ast.BinOp, scope: _Scope) -> set[_Ref]:
    left, right = self.values(node.left, scope), self.values(node.right, scope)
    if isinstance(node.op, ast.Div) and _PATH in left:
      return {_PATH}
    if not isinstance(node.op, ast.Add):
      return set()
    a, b = _strings(left), _strings(right)
    if len(a) * len(b) > _MAX_STRINGS:
      return set()
    return {_Ref('str', x + y) for x in a for y in b}

  def _values_NamedExpr(self, node: ast.NamedExpr, scope: _Scope) -> set[_Ref]:
    return self.values(node.value, scope)

  def _values_IfExp(self, node: ast.IfExp, scope: _Scope) -> set[_Ref]:
    return self.values(node.body, scope) | self.values(node.orelse, scope)

  def _values_BoolOp(self, node: ast.BoolOp, scope: _Scope) -> set[_Ref]:
    return set().union(*(self.values(v, scope) for v in node.values))

  def _values_Lambda(self, node: ast.Lambda, scope: _Scope) -> set[_Ref]:
    return {_Ref('def', node=node)}

  def _values_Dict(self, node: ast.AST, scope: _Scope) -> set[_Ref]:
    return {_Ref('dict', node=node)}

  _values_DictComp = _values_Dict

  # fixpoint ----------------------------------------------------------------------------

  def settle(self) -> bool:
    """One pass over the assignments and calls; True if any name's values grew."""
    changed = False
    for kind, scope, target, value in self.events:
      refs = self.values(value, scope)
      if kind == 'iterate':
        refs = self._element_values(value, scope, refs)
        value = None
      changed |= self._assign(scope, target, value, refs)
    for scope, call in self.calls:
      changed |= self.project.seed_call(self, scope, call)
    return changed

  def _element_values(self, iterable: ast.AST, scope: _Scope, refs: set[_Ref]) -> set[_Ref]:
    """What iterating `iterable` yields: the elements of a display, else only membership
    in eval_results."""
    if isinstance(iterable, (ast.List, ast.Tuple, ast.Set)):
      return set().union(*(self.values(e, scope) for e in iterable.elts))
    return {_EVAL_ITEM} if refs & _EVAL_STATE else set()

  def _assign(self, scope: _Scope, target: ast.AST, value: ast.AST | None,
              refs: set[_Ref]) -> bool:
    if isinstance(target, ast.Name):
      return _bind(scope.owner(target.id) or scope, target.id, refs)
    if isinstance(target, (ast.Attribute, ast.Subscript)):
      key = _slot(target)
      if key is None or not refs:
        return False
      return _grow(self.slot_values.setdefault(key, set()), refs)
    if isinstance(target, ast.Starred):
      return self._assign(scope, target.value, None, refs)
    if isinstance(target, (ast.Tuple, ast.List)):
      pairs = (isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
               and not any(isinstance(e, ast.Starred) for e in value.elts))
      changed = False
      for i, element in enumerate(target.elts):
        if pairs:
          changed |= self._assign(scope, element, value.elts[i],
                                  self.values(value.elts[i], scope))
        else:  # unpacking keeps only membership in eval_results
          element_refs = {_EVAL_ITEM} if refs & _EVAL_STATE else set()
          changed |= self._assign(scope, element, None, element_refs)
      return changed
    return False


def _derive(ref: _Ref, attr: str) -> set[_Ref]:
  """What `x.attr` may hold when `x` holds `ref`."""
  if ref.kind == 'qual':
    return {_qual(f'{ref.name}.{attr}')} if ref.name.count('.') < _MAX_QUAL_PARTS else set()
  if ref == _WORKLOAD and attr == 'metrics_logger':
    return {_LOGGER}
  if ref == _WORKLOAD and attr == '__class__':
    return {_WORKLOAD}
  if ref == _LOGGER and attr == _LOGGER_API:
    return {_LOG_FN}
  if ref == _PATH:
    return {_PATH}
  return set()


# --- the scanned modules together ------------------------------------------------------

def _package_of(directory: str) -> tuple[str, str]:
  """(the directory above the package, its dotted name) for a file in `directory`."""
  parts = []
  while os.path.isfile(os.path.join(directory, '__init__.py')):
    directory, name = os.path.split(directory)
    parts.insert(0, name)
  return directory, '.'.join(parts)


def _parse(path: str) -> ast.Module | None:
  try:
    with open(path, 'rb') as f:
      return ast.parse(f.read(), filename=path)
  except (SyntaxError, ValueError, UnicodeDecodeError):
    return None


class _Project:
  """The submission and the local modules it imports, followed as the loader would find
  them: its own directory is on sys.path, and its package's root when it is in one."""

  def __init__(self, path: str):
    self.sub_dir = os.path.dirname(path)
    self.root_dir, package = _package_of(self.sub_dir)
    self.top = package.split('.')[0] if package else None
    self.modules: dict[str, _Module] = {}  # by real path: each file once
    self.by_name: dict[str, _Module] = {}
    self.params: dict[ast.AST, tuple[_Scope, list[str], set[str]]] = {}
    stem = os.path.splitext(os.path.basename(path))[0]
    self.submission = self._load(path, package if stem == '__init__' else _join(package, stem))
    self._follow_imports()

  def _load(self, path: str, name: str) -> _Module | None:
    real = os.path.realpath(path)
    if real not in self.modules:
      tree = _parse(path)
      if tree is None:  # the loader reports syntax errors itself
        return None
      self.modules[real] = _Module(self, path, name, tree)
    self.by_name.setdefault(name, self.modules[real])
    return self.modules[real]

  def _find(self, name: str) -> str | None:
    """The local file of module `name`, or None for stdlib, third-party and benchmark code."""
    parts = name.split('.')
    if not name or parts[0] in _BENCHMARK_TOPS:
      return None
    roots = [self.root_dir] if parts[0] == self.top else []
    for root in roots + [self.sub_dir]:
      base = os.path.join(root, *parts)
      for candidate in (base + '.py', os.path.join(base, '__init__.py')):
        if os.path.isfile(candidate):
          return candidate
    return None

  def _follow_imports(self) -> None:
    queue = list(self.modules.values())
    while queue:
      module = queue.pop(0)
      for imported in module.imports:
        parts = imported.split('.')
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
          name = '.'.join(parts[:i])
          path = self._find(name)
          if path is None or name in self.by_name:
            continue
          before = len(self.modules)
          loaded = self._load(path, name)
          if loaded is not None and len(self.modules) > before:
            queue.append(loaded)

  def is_local(self, name: str) -> bool:
    """Whether `name` is a scanned module or something inside one."""
    parts = name.split('.')
    return any('.'.join(parts[:i]) in self.by_name for i in range(1, len(parts) + 1))

  def settle(self) -> None:
    """Propagate values through all modules until nothing changes."""
    for _ in range(_MAX_ROUNDS):
      changed = False
      for module in self.modules.values():
        changed |= module.settle()
      if not changed:
        return

  def _callee(self, ref: _Ref, hops: int = 4) -> tuple[ast.AST, int] | None:
    """(function node, index of the first argument's parameter) that calling `ref` runs;
    follows up to `hops` re-exports (`from .impl import peek` in a package's __init__)."""
    if ref.kind == 'def' and ref.node in self.params:
      return ref.node, 0
    if ref.kind == 'class':
      init = next((n for n in ref.node.body
                   if isinstance(n, ast.FunctionDef) and n.name == '__init__'), None)
      return (init, 1) if init is not None else None
    if ref.kind == 'qual' and '.' in ref.name and hops:
      module_name, attr = ref.name.rsplit('.', 1)
      module = self.by_name.get(module_name)
      for target in module.root.values.get(attr, ()) if module else ():
        callee = self._callee(target, hops - 1)
        if callee is not None:
          return callee
    return None

  def seed_call(self, module: _Module, scope: _Scope, call: ast.Call) -> bool:
    """Carry the runner's objects and imported names into the callee's parameters
    (`functools.partial(f, workload)` counts as a call of f)."""
    func, args = call.func, call.args
    if args and 'functools.partial' in _quals(module.values(func, scope)):
      func, args = args[0], args[1:]
    changed = False
    for ref in module.values(func, scope):
      callee = self._callee(ref)
      if callee is None:
        continue
      fn, offset = callee
      fn_scope, positional, keyword_only = self.params[fn]
      for i, arg in enumerate(args):
        if isinstance(arg, ast.Starred):
          break
        if i + offset < len(positional):
          changed |= _bind(fn_scope, positional[i + offset], _carried(module.values(arg, scope)))
      for keyword in call.keywords:
        if keyword.arg in positional or keyword.arg in keyword_only:
          changed |= _bind(fn_scope, keyword.arg, _carried(module.values(keyword.value, scope)))
    return changed


def _carried(refs: set[_Ref]) -> set[_Ref]:
  return {r for r in refs if r in _RUNNER_OBJECTS or r.kind == 'qual'}


# --- the rules -------------------------------------------------------------------------

def _member_rule(qual: str) -> tuple[str, str] | None:
  if qual in _MEMBERS:
    return _MEMBERS[qual]
  for prefix, rule, why in _MEMBER_PREFIXES:
    if qual.startswith(prefix):
      return rule, why
  return None


def _module_rule(name: str) -> tuple[str, str] | None:
  """Why importing `name` is a finding, or None."""
  parts = name.split('.')
  for i in range(1, len(parts) + 1):
    if '.'.join(parts[:i]) in _MODULES:
      return _MODULES['.'.join(parts[:i])]
  if parts[0] in _BENCHMARK_TOPS and name != 'algoperf' and not any(
      name == allowed or name.startswith(allowed + '.') for allowed in _ALLOWED_BENCHMARK):
    return RUNNER_ACCESS, _RUNNER_WHY
  return None


def _held_out_why(attr: str) -> str | None:
  """Why workload.<attr> is held-out data, or None."""
  if attr in _ALLOWED_SPLIT_COUNTS:
    return None
  if attr in _EVAL_ENTRY_POINTS:
    return ('evaluation runs on the held-out splits; only the runner evaluates (untimed), '
            'and a submission that does sees held-out results.')
  if attr in _INPUT_ENTRY_POINTS:
    return ('it builds or reads input pipelines of any split, validation and test included; '
            'a submission trains only on the batches of input_queue.')
  tokens = set(attr.strip('_').split('_'))
  if not tokens & _HELD_OUT_TOKENS:
    return None
  if 'target' in tokens:
    return ('targets are measured on the held-out splits; steering training by them uses '
            'held-out information.')
  return ('it concerns the held-out validation/test data, which a submission must not use '
          '(only num_validation_examples and num_test_examples may be read).')


def _dataset_hint(texts: Iterable[str]) -> str | None:
  """The dataset location or held-out split a path expression mentions, if any."""
  for text in texts:
    lower = text.lower()
    for marker in _DATASET_PATHS:
      if marker in lower:
        return marker
    match = _SPLIT_WORD.search(lower)
    if match:
      return match.group(1)
  return None


def _reserved(key: str) -> bool:
  return key in RESERVED_LOG_COLUMNS or key.startswith(RESERVED_LOG_PREFIXES)


class _Checker(ast.NodeVisitor):
  """Walk one module and report every rule it breaks."""

  def __init__(self, module: _Module, report):
    self.m = module
    self._report = report

  def report(self, node: ast.AST, rule: str, message: str) -> None:
    self._report(self.m.path, node.lineno, rule, message)

  def values(self, node: ast.AST) -> set[_Ref]:
    return self.m.values(node)

  # imports ------------------------------------------------------------------------------

  def _check_import(self, node: ast.AST, name: str) -> None:
    if self.m.project.is_local(name):
      return
    found = _module_rule(name)
    if found:
      self.report(node, found[0], f'imports {name}: {found[1]}')

  def visit_Import(self, node: ast.Import) -> None:
    for alias in node.names:
      self._check_import(node, alias.name)

  def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
    base = self.m.resolve_from(node)
    if base is None:
      return
    if base:
      self._check_import(node, base)
    for alias in node.names:
      if alias.name != '*':
        self._check_import(node, _join(base, alias.name))

  # names and attributes ------------------------------------------------------------------

  def _check_member(self, node: ast.AST, qual: str) -> None:
    found = _member_rule(qual)
    if found is None:
      return
    source, shown = ast.unparse(node), _shown(qual)
    what = shown if source == shown else f'{source} ({shown})'
    self.report(node, found[0], f'uses {what}: {found[1]}')

  def visit_Name(self, node: ast.Name) -> None:
    if isinstance(node.ctx, ast.Load):
      for qual in _quals(self.values(node)):
        self._check_member(node, qual)
    if node.id in _ATTRIBUTES:  # `__builtins__` is also a global name
      rule, why = _ATTRIBUTES[node.id]
      self.report(node, rule, f'uses {node.id}: {why}')

  def visit_Expr(self, node: ast.Expr) -> None:
    if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
      self.generic_visit(node)  # a bare string is a docstring: prose, not code

  def visit_Constant(self, node: ast.Constant) -> None:
    if isinstance(node.value, str):
      for marker in _DATASET_LOCATIONS:
        if marker in node.value:
          self.report(node, FILE_ACCESS, f'names the dataset location {node.value!r}: '
                      f'{_DATASET_WHY}')

  def visit_Attribute(self, node: ast.Attribute) -> None:
    if isinstance(node.ctx, (ast.Store, ast.Del)):
      self._check_store(node)
    else:
      self._check_attribute_read(node)
    if node.attr in _ATTRIBUTES:
      rule, why = _ATTRIBUTES[node.attr]
      self.report(node, rule, f'uses .{node.attr}: {why}')
    self.generic_visit(node)

  def _check_attribute_read(self, node: ast.Attribute) -> None:
    base = self.values(node.value)
    shown = ast.unparse(node)
    if _WORKLOAD in base:
      self._check_workload_attribute(node, node.attr, shown)
    if _LOGGER in base:
      self._check_logger_attribute(node, node.attr, shown)
    for qual in _quals(base):
      self._check_member(node, f'{qual}.{node.attr}')
      self._check_reached_module(node, qual, f'{qual}.{node.attr}')

  def _check_reached_module(self, node: ast.AST, base: str, qual: str) -> None:
    """`import algoperf; algoperf.runner` reaches a module the import line did not name."""
    found = _module_rule(qual)
    if found and not _module_rule(base) and not self.m.project.is_local(qual):
      self.report(node, found[0], f'uses {qual}: {found[1]}')

  def _check_workload_attribute(self, node: ast.AST, attr: str, shown: str) -> None:
    if attr in _WORKLOAD_MUTATORS:
      self.report(node, WORKLOAD_WRITE, f'uses {shown}: it changes the workload, which the '
                  'runner owns and measures every submission with.')
      return
    why = _held_out_why(attr)
    if why:
      self.report(node, HELD_OUT, f'uses {shown}: {why}')
    elif attr.startswith('_') and attr not in _HARMLESS_DUNDERS:
      self.report(node, PRIVATE, f'uses {shown}: private workload members are not the '
                  'submission API and can expose data, evaluation or runner state.')

  def _check_logger_attribute(self, node: ast.AST, attr: str, shown: str) -> None:
    if attr != _LOGGER_API:
      self.report(node, PRIVATE, f'uses {shown}: only {_LOGGER_API} of the metrics logger '
                  'is the submission API; the rest (its files, row dropping) is the runner\'s.')

  # writes ------------------------------------------------------------------------------

  def _check_store(self, target: ast.AST) -> None:
    """An assignment or `del` of `x.y` or `x[k]`: whose object does it change?"""
    verb = 'deletes' if isinstance(target.ctx, ast.Del) else 'assigns to'
    refs: set[_Ref] = set()
    node = target.value
    while True:
      refs |= self.values(node)
      if not isinstance(node, (ast.Attribute, ast.Subscript)):
        break
      node = node.value
    self._report_write(target, f'{verb} {ast.unparse(target)}', refs)

  def _report_write(self, node: ast.AST, what: str, refs: set[_Ref]) -> None:
    quals = [q for q in _quals(refs) if not self.m.project.is_local(q)]  # its own code
    if refs & {_WORKLOAD, _LOGGER}:
      self.report(node, WORKLOAD_WRITE, f'{what}: changing the workload (its evaluation, '
                  'targets, logger or model) changes what is measured.')
    elif refs & _EVAL_STATE:
      self.report(node, RUNNER_STATE, f'{what}: {_EVAL_RESULTS_WHY}')
    elif any(q == 'os.environ' or q.startswith('os.environ.') for q in quals):
      self.report(node, ENVIRONMENT, f'{what}: {_ENV_WHY}')
    elif quals:
      self.report(node, MODULE_PATCH, f'{what}: {_PATCH_WHY}')

  def visit_Subscript(self, node: ast.Subscript) -> None:
    if isinstance(node.ctx, (ast.Store, ast.Del)):
      self._check_store(node)
    else:
      for qual in _quals(self.values(node)):
        self._check_reached_module(node, 'sys.modules', qual)
    self.generic_visit(node)

  def visit_AugAssign(self, node: ast.AugAssign) -> None:
    if isinstance(node.target, ast.Name) and _EVAL_RESULTS in self.values(node.target):
      self.report(node, RUNNER_STATE, f'extends {node.target.id} in place: '
                  f'{_EVAL_RESULTS_WHY}')
    self.generic_visit(node)

  def visit_Raise(self, node: ast.Raise) -> None:
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    if exc is not None and {'builtins.SystemExit', 'builtins.KeyboardInterrupt'} & set(
        _quals(self.values(exc))):
      self.report(node, PROCESS, f'raises {ast.unparse(exc)}: {_EXIT_WHY}')
    self.generic_visit(node)

  # calls -------------------------------------------------------------------------------

  def visit_Call(self, node: ast.Call) -> None:
    func = self.values(node.func)
    quals = set(_quals(func))
    self._check_file_call(node, quals)
    self._check_reflection(node, quals)
    for qual in _quals(self.values(node)):  # getattr(sys, '_getframe'), import_module('x')
      self._check_member(node, qual)
      self._check_import(node, qual)
    if _LOG_FN in func or (isinstance(node.func, ast.Attribute) and node.func.attr == _LOGGER_API):
      self._check_log_call(node)
    if (isinstance(node.func, ast.Attribute) and node.func.attr in _LIST_MUTATORS
        and self.values(node.func.value) & _EVAL_STATE):
      self.report(node, RUNNER_STATE, f'calls {ast.unparse(node.func)}: {_EVAL_RESULTS_WHY}')
    self.generic_visit(node)

  def _check_file_call(self, node: ast.Call, quals: set[str]) -> None:
    """File access, reported here rather than at the name so the path can be shown."""
    on_path = (isinstance(node.func, ast.Attribute) and node.func.attr in _PATH_METHODS
               and _PATH in self.values(node.func.value))
    if not on_path and not any(_member_rule(q) == (FILE_ACCESS, _FILE_WHY) for q in quals):
      return
    arguments = node.args + [k.value for k in node.keywords]
    texts = [ast.unparse(a) for a in [node.func, *arguments]]
    texts += [s for a in arguments for s in _strings(self.values(a))]
    hint = _dataset_hint(texts)
    what = f'calls {ast.unparse(node.func)}'
    if hint:
      self.report(node, FILE_ACCESS, f'{what} on a path mentioning {hint!r}: {_DATASET_WHY}')
    else:
      self.report(node, FILE_ACCESS, f'{what}: {_FILE_WHY}')

  def _check_reflection(self, node: ast.Call, quals: set[str]) -> None:
    """getattr/setattr/vars and friends on the workload: attribute access in disguise."""
    attr = node.func.attr if isinstance(node.func, ast.Attribute) else ''
    reads = quals & {'builtins.getattr', 'builtins.hasattr'} or attr == '__getattribute__'
    writes = quals & {'builtins.setattr', 'builtins.delattr'} or attr in (
        '__setattr__', '__delattr__')
    if not node.args or not (reads or writes or quals & _WHOLE_OBJECT_READS):
      return
    target = self.values(node.args[0])
    what = f'calls {ast.unparse(node.func)} on {ast.unparse(node.args[0])}'
    if writes:
      self._report_write(node, what, target)
    elif not target & {_WORKLOAD, _LOGGER}:
      return
    elif reads:
      self._check_named_read(node, target)
    else:
      self.report(node, PRIVATE, f'{what}: it reads every member, private ones included.')

  def _check_named_read(self, node: ast.Call, target: set[_Ref]) -> None:
    names = _strings(self.values(node.args[1])) if len(node.args) > 1 else []
    obj = ast.unparse(node.args[0])
    if any('{}' in name and not name.startswith('_') for name in names):
      names = []  # partly computed, and not visibly private: say what it is
    if not names:
      self.report(node, PRIVATE, f'reads an attribute of {obj} whose name is computed at run '
                  'time, which can reach private members this check cannot see.')
    for name in names:
      if _WORKLOAD in target:
        self._check_workload_attribute(node, name, f'{obj}.{name}')
      if _LOGGER in target:
        self._check_logger_attribute(node, name, f'{obj}.{name}')

  def _check_log_call(self, node: ast.Call) -> None:
    metrics = node.args[0] if node.args else next(
        (k.value for k in node.keywords if k.arg == 'metrics'), None)
    owned = [repr(k) for k in sorted(set(self._dict_keys(metrics, set()))) if _reserved(k)]
    keywords = {k.arg: k.value for k in node.keywords}
    is_eval = node.args[3] if len(node.args) > 3 else keywords.get('is_eval')
    if is_eval is not None and not (isinstance(is_eval, ast.Constant) and not is_eval.value):
      owned.append('is_eval')
    if len(node.args) > 2 or 'preemption_count' in keywords:
      owned.append('preemption_count')
    if owned:
      self.report(node, RESERVED_LOG, f'writes {", ".join(owned)} through the metrics '
                  f'logger: {_RESERVED_WHY}')

  def _dict_keys(self, node: ast.AST | None, seen: set[ast.AST]) -> Iterator[str]:
    """The keys of a dict built by a literal, a comprehension or dict(...), as strings
    ('{}' for the parts known only at run time)."""
    if node is None or node in seen:
      return
    seen.add(node)
    if isinstance(node, ast.Dict):
      for key, value in zip(node.keys, node.values, strict=True):
        if key is None:
          yield from self._dict_keys(value, seen)  # {**other}
        else:
          yield from _strings(self.values(key))
    elif isinstance(node, ast.DictComp):
      yield from _strings(self.values(node.key))
    elif isinstance(node, ast.Call) and 'builtins.dict' in _quals(self.values(node.func)):
      yield from (k.arg for k in node.keywords if k.arg)
      for arg in node.args:
        yield from self._dict_keys(arg, seen)
    else:
      for ref in self.values(node):
        if ref.kind == 'dict':
          yield from self._dict_keys(ref.node, seen)



# --- entry point -----------------------------------------------------------------------

def scan_submission(path: str) -> list[Finding]:
  """Scan the submission file and the local modules it imports (sibling files and relative
  imports inside its package), never executing them.

  Local means what the loader itself would find there: modules in the submission's
  directory (on sys.path while it loads) and, for a submission inside a package, modules of
  that top-level package. Standard-library, third-party and benchmark modules (algoperf,
  workloads) are not followed; importing the benchmark's runner modules is itself a finding.
  Each module is scanned once. A syntax error in the submission gives no findings (the
  loader reports it); a local module that does not parse is skipped. Findings are sorted
  by file and line, one per rule and line. Raises OSError if `path` cannot be read.
  """
  path = os.path.abspath(os.path.expanduser(path))
  with open(path, 'rb'):  # a missing or unreadable submission is the caller's error
    pass
  project = _Project(path)
  if project.submission is None:
    return []
  project.settle()
  findings: dict[tuple[str, int, str], Finding] = {}

  def report(file: str, line: int, rule: str, message: str) -> None:
    findings.setdefault((file, line, rule), Finding(file, line, rule, message))

  for module in project.modules.values():
    _Checker(module, report).visit(module.tree)
  return sorted(findings.values(), key=lambda f: (f.path, f.line, f.rule))


# --- hyperparameters a submission reads ------------------------------------------------

# The namedtuple's own API, not hyperparameter names.
_HPARAMS_API = frozenset({'count', 'index'})


class _HyperparameterReads(ast.NodeVisitor):
  """`hyperparameters.<name>` and `getattr(hyperparameters, '<name>')` reads of one module;
  a getattr with a default or a hasattr makes the name optional."""

  def __init__(self, module: _Module, required: set[str], optional: set[str]):
    self.m, self.required, self.optional = module, required, optional

  def _is_hparams(self, node: ast.AST) -> bool:
    return _HPARAMS in self.m.values(node)

  def visit_Attribute(self, node: ast.Attribute) -> None:
    if (isinstance(node.ctx, ast.Load) and not node.attr.startswith('_')
        and node.attr not in _HPARAMS_API and self._is_hparams(node.value)):
      self.required.add(node.attr)
    self.generic_visit(node)

  def visit_Call(self, node: ast.Call) -> None:
    quals = set(_quals(self.m.values(node.func)))
    if quals & {'builtins.getattr', 'builtins.hasattr'} and len(node.args) >= 2 and (
        self._is_hparams(node.args[0])):
      guarded = 'builtins.hasattr' in quals or len(node.args) > 2
      for name in _strings(self.m.values(node.args[1])):
        if '{}' not in name and not name.startswith('_'):
          (self.optional if guarded else self.required).add(name)
    self.generic_visit(node)


def _hyperparameter_reads(path: str) -> tuple[set[str], set[str]]:
  """(names read unguarded, names read only behind a default or hasattr)."""
  path = os.path.abspath(os.path.expanduser(path))
  project = _Project(path)
  required: set[str] = set()
  optional: set[str] = set()
  if project.submission is None:
    return required, optional
  project.settle()
  for module in project.modules.values():
    _HyperparameterReads(module, required, optional).visit(module.tree)
  return required - optional, optional


def hyperparameters_read(path: str) -> set[str]:
  """Every hyperparameter name the submission (and its local modules) reads statically,
  whatever the variable holding the object is called after it arrives as `hyperparameters`.
  Names built at run time are not seen."""
  required, optional = _hyperparameter_reads(path)
  return required | optional


def missing_hyperparameters(path: str, search_space_names: Iterable[str]) -> list[str]:
  """The names the submission reads without a fallback that the search space lacks, sorted:
  checked before training so a typo does not surface hours in, at the first access."""
  required, _ = _hyperparameter_reads(path)
  return sorted(required - set(search_space_names))
