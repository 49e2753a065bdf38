"""The static compliance check (algoperf.compliance): what it flags, and what it must not.

Fixture submissions live in tests/submissions/compliance/: each hostile one shows one rule
and must report exactly that rule; the honest ones (and every submission this repository
ships) must report nothing. Smaller variations (aliasing, evasions, look-alikes) are
written to a temporary directory by the parametrized tests below.
"""

import glob
import os
import pathlib
import sys
import textwrap

import pytest

from algoperf import compliance

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO / 'tests' / 'submissions' / 'compliance'

HONEST_SUBMISSIONS = sorted(
    [os.path.relpath(p, REPO) for p in glob.glob(str(REPO / 'reference_algorithms/*/submission.py'))]
    + ['submissions/template/submission.py', 'tests/submissions/sgd.py',
       'tests/submissions/algoperf_v06_style.py',
       'tests/submissions/compliance/compliance_base.py',
       'tests/submissions/compliance/honest_edge_cases.py'])

HOSTILE_FIXTURES = {
    'private_attribute': compliance.PRIVATE,
    'held_out_eval': compliance.HELD_OUT,
    'held_out_input_queue': compliance.HELD_OUT,
    'workload_write': compliance.WORKLOAD_WRITE,
    'module_patch': compliance.MODULE_PATCH,
    'frame_introspection': compliance.INTROSPECTION,
    'gc_objects': compliance.INTROSPECTION,
    'dynamic_import': compliance.DYNAMIC_CODE,
    'file_access': compliance.FILE_ACCESS,
    'environment': compliance.ENVIRONMENT,
    'process_exit': compliance.PROCESS,
    'background_thread': compliance.PROCESS,
    'runner_import': compliance.RUNNER_ACCESS,
    'reserved_log_column': compliance.RESERVED_LOG,
    'eval_results_write': compliance.RUNNER_STATE,
}


def _rules(findings):
  return {f.rule for f in findings}


def _scan_source(tmp_path, source, name='submission.py'):
  path = tmp_path / name
  path.write_text(textwrap.dedent(source))
  return compliance.scan_submission(str(path))


# --- the repository's own submissions ---------------------------------------------------

def test_the_honest_list_covers_every_reference_algorithm():
  assert len([p for p in HONEST_SUBMISSIONS if p.startswith('reference_algorithms/')]) >= 15


@pytest.mark.parametrize('path', HONEST_SUBMISSIONS)
def test_honest_submission_has_no_findings(path):
  findings = compliance.scan_submission(str(REPO / path))
  assert findings == [], '\n'.join(map(str, findings))


def test_reference_algorithms_are_scanned_with_their_shared_library():
  """A reference algorithm's update_params lives in common/: a clean result must mean the
  check read it, not that it stopped at the submission file."""
  project = compliance._Project(str(REPO / 'reference_algorithms/sam/submission.py'))
  assert {'reference_algorithms.common.submission_lib', 'reference_algorithms.common.train_step',
          'reference_algorithms.adamw.submission'} <= set(project.by_name)
  assert not any(name.startswith(('algoperf', 'optax', 'jax')) for name in project.by_name)


# --- hostile fixtures -------------------------------------------------------------------

@pytest.mark.parametrize('name, rule', sorted(HOSTILE_FIXTURES.items()))
def test_hostile_fixture_reports_exactly_its_rule(name, rule):
  path = FIXTURES / f'{name}.py'
  findings = compliance.scan_submission(str(path))
  assert _rules(findings) == {rule}, '\n'.join(map(str, findings))
  for finding in findings:
    assert finding.path == str(path)
    assert finding.message.count(': ') >= 1 and finding.message.endswith('.')


def test_every_rule_has_a_hostile_fixture():
  assert set(HOSTILE_FIXTURES.values()) == set(compliance.RULES)


def test_finding_prints_as_path_line_rule_message():
  finding = compliance.Finding('sub.py', 12, compliance.PRIVATE, 'uses workload._x: why.')
  assert str(finding) == 'sub.py:12: private-workload-attribute: uses workload._x: why.'


def test_environment_access_is_a_note_and_everything_else_a_warning():
  assert {f.severity for f in compliance.scan_submission(str(FIXTURES / 'environment.py'))} \
      == {'note'}
  assert {f.severity for f in compliance.scan_submission(str(FIXTURES / 'process_exit.py'))} \
      == {'warning'}


def test_finding_points_at_the_offending_line():
  path = FIXTURES / 'frame_introspection.py'
  (finding,) = compliance.scan_submission(str(path))
  assert '_getframe' in path.read_text().splitlines()[finding.line - 1]


# --- packages and local modules ---------------------------------------------------------

def test_package_submission_reports_its_sibling_module_once():
  findings = compliance.scan_submission(
      str(FIXTURES / 'package_submission' / 'submission.py'))
  assert [(os.path.basename(f.path), f.rule) for f in findings] == [
      ('helpers.py', compliance.HELD_OUT)]


def test_sibling_module_of_a_plain_submission_is_scanned(tmp_path):
  (tmp_path / 'tools.py').write_text('import subprocess\n')
  findings = _scan_source(tmp_path, 'import tools\n')
  assert [(os.path.basename(f.path), f.rule) for f in findings] == [
      ('tools.py', compliance.PROCESS)]


def test_workload_passed_to_a_sibling_module_is_followed(tmp_path):
  (tmp_path / 'tools.py').write_text('def peek(w):\n  return w._eval_iters\n')
  findings = _scan_source(tmp_path, """\
      from tools import peek
      def update_params(workload, **kwargs):
        return peek(workload)
      """)
  assert [(os.path.basename(f.path), f.rule) for f in findings] == [
      ('tools.py', compliance.HELD_OUT)]


def test_workload_passed_to_a_function_re_exported_by_a_package_is_followed(tmp_path):
  package = tmp_path / 'tools'
  package.mkdir()
  (package / '__init__.py').write_text('from .impl import peek\n')
  (package / 'impl.py').write_text('def peek(w):\n  return w._param_shapes\n')
  findings = _scan_source(tmp_path, """\
      import tools
      def update_params(workload, **kwargs):
        return tools.peek(workload)
      """)
  assert [(os.path.basename(f.path), f.rule) for f in findings] == [
      ('impl.py', compliance.PRIVATE)]


def test_package_init_of_a_followed_module_is_scanned(tmp_path):
  package = tmp_path / 'pkg'
  package.mkdir()
  (package / '__init__.py').write_text('import ctypes\n')
  (package / 'helpers.py').write_text('X = 1\n')
  findings = _scan_source(tmp_path, 'from pkg.helpers import X\n')
  assert [(os.path.relpath(f.path, tmp_path), f.rule) for f in findings] == [
      (os.path.join('pkg', '__init__.py'), compliance.INTROSPECTION)]


def test_third_party_stdlib_and_benchmark_modules_are_not_followed(tmp_path):
  findings = _scan_source(tmp_path, 'import json, optax\nfrom algoperf import spec\n')
  assert findings == []


def test_import_cycles_terminate(tmp_path):
  (tmp_path / 'a.py').write_text('import b\n')
  (tmp_path / 'b.py').write_text('import a\nimport signal\n')
  assert _rules(_scan_source(tmp_path, 'import a\n')) == {compliance.PROCESS}


# --- robustness -------------------------------------------------------------------------

def test_syntax_error_gives_no_findings(tmp_path):
  assert _scan_source(tmp_path, 'import sys\ndef update_params(:\n  sys.exit()\n') == []


def test_sibling_with_a_syntax_error_is_skipped(tmp_path):
  (tmp_path / 'broken.py').write_text('def (:\n')
  assert _rules(_scan_source(tmp_path, 'import broken\nimport threading\n')) == {
      compliance.PROCESS}


def test_missing_submission_raises(tmp_path):
  with pytest.raises(OSError):
    compliance.scan_submission(str(tmp_path / 'missing.py'))


def test_scanning_never_executes_the_code(tmp_path):
  marker = tmp_path / 'ran'
  (tmp_path / 'side.py').write_text(f'open({str(marker)!r}, "w").close()\n')
  findings = _scan_source(tmp_path, f'import side\nopen({str(marker)!r}, "w").close()\n')
  assert _rules(findings) == {compliance.FILE_ACCESS}
  assert not marker.exists()
  assert 'side' not in sys.modules


# --- aliasing, evasion and look-alikes --------------------------------------------------

FLAGGED = {
    'import sys as s\ns._getframe()\n': {compliance.INTROSPECTION},
    'from sys import _getframe as g\ng(1)\n': {compliance.INTROSPECTION},
    'import inspect\ninspect.stack()\n': {compliance.INTROSPECTION},
    'import gc\nfor o in gc.get_referrers(1):\n  pass\n': {compliance.INTROSPECTION},
    'import ctypes\n': {compliance.INTROSPECTION},
    'def f(frame):\n  return frame.f_back\n': {compliance.INTROSPECTION},
    'def f(fn):\n  return fn.__closure__\n': {compliance.INTROSPECTION},
    "__builtins__['open']\n": {compliance.INTROSPECTION},
    'object.__subclasses__()\n': {compliance.INTROSPECTION},
    'import sys\nm = sys\nm.modules\n': {compliance.INTROSPECTION},
    "import sys\nsys.modules['algoperf.clock']\n": {compliance.INTROSPECTION,
                                                    compliance.RUNNER_ACCESS},
    "import sys\ngetattr(sys, '_getframe')()\n": {compliance.INTROSPECTION},
    'from os import _exit as bye\nbye(0)\n': {compliance.PROCESS},
    'exit()\n': {compliance.PROCESS},
    'raise SystemExit(1)\n': {compliance.PROCESS},
    'import os\nos.kill(os.getpid(), 9)\n': {compliance.PROCESS},
    'import signal\n': {compliance.PROCESS},
    'from concurrent.futures import ThreadPoolExecutor\n': {compliance.PROCESS},
    'import multiprocessing as mp\n': {compliance.PROCESS},
    'import os\nos.system("ls")\n': {compliance.PROCESS},
    "exec('x = 1')\n": {compliance.DYNAMIC_CODE},
    "__import__('subprocess')\n": {compliance.DYNAMIC_CODE, compliance.PROCESS},
    'import algoperf.runner\n': {compliance.RUNNER_ACCESS},
    'import submission_runner\n': {compliance.RUNNER_ACCESS},
    'from algoperf import spec, logs\n': {compliance.RUNNER_ACCESS},
    'from algoperf.scoring import performance_profile\n': {compliance.RUNNER_ACCESS},
    'import algoperf\nalgoperf.checkpoint\n': {compliance.RUNNER_ACCESS},
    'from workloads.mnist import workload\n': {compliance.RUNNER_ACCESS},
    'from absl import flags\nflags.FLAGS.data_dir\n': {compliance.RUNNER_ACCESS},
    'import os\nos.getenv("HOME")\n': {compliance.ENVIRONMENT},
    'import os\nos.environ["XLA_FLAGS"] = ""\n': {compliance.ENVIRONMENT},
    'import glob\n': {compliance.FILE_ACCESS},
    'import pickle\nwith open("x.pkl", "rb") as f:\n  pickle.load(f)\n': {compliance.FILE_ACCESS},
    'import os\nfor d, _, fs in os.walk("/data"):\n  pass\n': {compliance.FILE_ACCESS},
    "import pathlib\n(pathlib.Path('/data') / 'x').read_bytes()\n": {compliance.FILE_ACCESS},
    "ROOT = '/usr/share/datasets/mnist'\n": {compliance.FILE_ACCESS},
    'import time\ntime.time = lambda: 0.0\n': {compliance.MODULE_PATCH},
    "import jax\nsetattr(jax, 'jit', lambda f: f)\n": {compliance.MODULE_PATCH},
    'from algoperf import spec\nspec.Workload.has_reached_validation_target = None\n':
        {compliance.MODULE_PATCH},
}

WORKLOAD_FLAGGED = {
    'w = workload\nw2 = w\nw2._param_types': {compliance.PRIVATE},
    'workload.__dict__': {compliance.PRIVATE},
    "kwargs['workload']._param_shapes": {compliance.PRIVATE},
    "kwargs.get('workload').eval_model(1)": {compliance.HELD_OUT},
    "state = {}\nstate['w'] = workload\nstate['w']._param_shapes": {compliance.PRIVATE},
    'for w in (workload,):\n  w._param_shapes': {compliance.PRIVATE},
    'vars(workload)': {compliance.PRIVATE},
    "getattr(workload, '_' + 'param_types')": {compliance.PRIVATE},
    'getattr(workload, name)': {compliance.PRIVATE},
    "getattr(workload, f'_{name}')": {compliance.PRIVATE},
    'workload.metrics_logger.log_dir': {compliance.PRIVATE},
    'workload.eval_model(1, 2, 3, 4, 5, 6, 7)': {compliance.HELD_OUT},
    "getattr(workload, '_eval_model_on_split')": {compliance.HELD_OUT},
    'workload.validation_target_value': {compliance.HELD_OUT},
    'workload.__class__._build_input_queue': {compliance.HELD_OUT},
    'type(workload).load_splits': {compliance.HELD_OUT},
    'workload.has_reached_test_target({})': {compliance.HELD_OUT},
    'workload.eval_model = None': {compliance.WORKLOAD_WRITE},
    'type(workload).test_target_value = 0.0': {compliance.WORKLOAD_WRITE},
    'del workload.loss_fn': {compliance.WORKLOAD_WRITE},
    "delattr(workload, 'loss_fn')": {compliance.WORKLOAD_WRITE},
    'workload.metrics_logger.append_scalar_metrics = print': {compliance.WORKLOAD_WRITE},
    'workload.attach_metrics_logger(None)': {compliance.WORKLOAD_WRITE},
    "log = workload.metrics_logger.append_scalar_metrics\nlog({'score': 0.0}, 1)":
        {compliance.RESERVED_LOG},
    "logger = getattr(workload, 'metrics_logger')\n"
    "logger.append_scalar_metrics({f'test/{k}': v for k, v in m.items()}, 1)":
        {compliance.RESERVED_LOG},
    "row = {'accumulated_submission_time': 0.0}\n"
    "workload.metrics_logger.append_scalar_metrics(dict(row, loss=1.0), 1)":
        {compliance.RESERVED_LOG},
    "workload.metrics_logger.append_scalar_metrics({'loss': 1.0}, 1, is_eval=True)":
        {compliance.RESERVED_LOG},
    'eval_results.clear()': {compliance.RUNNER_STATE},
    'eval_results += [(0, {})]': {compliance.RUNNER_STATE},
    "eval_results[-1][1].update({'validation/loss': 0.0})": {compliance.RUNNER_STATE},
}

NOT_FLAGGED = [
    'import gc\ngc.collect()\n',
    'import re\nre.compile("x")\n',
    'def open(x):\n  return x\nopen(1)\n',
    'def f(model):\n  return model.eval()\n',
    'import os\nos.path.join("a", "b")\nos.cpu_count()\n',
    'import inspect\ninspect.signature(print)\n',
    'import time\ntime.perf_counter()\n',
    'import functools, math, dataclasses, collections, typing, itertools\n',
    'from algoperf import jax_sharding_utils, spec\nspec.ForwardPassMode.TRAIN\n',
    'from reference_algorithms.common import submission_lib\n',
    'import algoperf\nimport algoperf.spec as s\nalgoperf.jax_sharding_utils\n',
    '"""Docstrings may mention tensorflow_datasets and /usr/share/datasets."""\n',
    'class A:\n  def __getattr__(self, name):\n    return name\n',
    'CONFIG = {}\nCONFIG["lr"] = 1.0\n',
]

WORKLOAD_NOT_FLAGGED = [
    'workload.num_validation_examples + workload.num_test_examples',
    'workload.param_shapes, workload.model_params_types, workload.step_hint',
    'workload.model_fn, workload.loss_fn, workload.loss_type, workload.num_train_examples',
    'workload.eval_batch_size, workload.num_eval_train_examples, workload.target_metric_name',
    'type(workload).__name__, workload.__class__.__name__',
    "getattr(workload, 'metrics_logger', None)",
    "workload.metrics_logger.append_scalar_metrics({'loss': 1.0, 'lr': 0.1}, 1)",
    "eval_results[-1][1]['validation/accuracy'] if eval_results else None",
    'sorted(eval_results)\nlast = list(eval_results)\nlast.append(1)',
    'x = {}\nx.update(a=1)',
]


def _in_update_params(body):
  return ('def update_params(workload, eval_results, m=None, name=None, **kwargs):\n'
          + textwrap.indent(body, '  ') + '\n')


@pytest.mark.parametrize('source, rules', sorted(FLAGGED.items()))
def test_flagged_module_code(tmp_path, source, rules):
  assert _rules(_scan_source(tmp_path, source)) == rules


@pytest.mark.parametrize('body, rules', sorted(WORKLOAD_FLAGGED.items()))
def test_flagged_workload_use(tmp_path, body, rules):
  assert _rules(_scan_source(tmp_path, _in_update_params(body))) == rules


@pytest.mark.parametrize('source', NOT_FLAGGED)
def test_look_alike_module_code_is_not_flagged(tmp_path, source):
  assert _scan_source(tmp_path, source) == []


@pytest.mark.parametrize('body', WORKLOAD_NOT_FLAGGED)
def test_api_use_of_the_workload_is_not_flagged(tmp_path, body):
  assert _scan_source(tmp_path, _in_update_params(body)) == []


def test_workload_stored_on_an_object_is_followed(tmp_path):
  findings = _scan_source(tmp_path, """\
      class Spy:
        def __init__(self, target):
          self.target = target
        def peek(self):
          return self.target._eval_iters
      def init_optimizer_state(workload, *args):
        return Spy(workload)
      """)
  assert _rules(findings) == {compliance.HELD_OUT}


def test_workload_kept_in_a_global_is_followed(tmp_path):
  findings = _scan_source(tmp_path, """\
      KEPT = None
      def init_optimizer_state(workload, *args):
        global KEPT
        KEPT = workload
      def update_params(**kwargs):
        return KEPT._param_shapes
      """)
  assert _rules(findings) == {compliance.PRIVATE}


def test_workload_passed_by_keyword_and_walrus_is_followed(tmp_path):
  findings = _scan_source(tmp_path, """\
      def helper(*, wl):
        return wl._param_shapes
      def update_params(workload, **kwargs):
        if (w := workload) is not None:
          helper(wl=w)
      """)
  assert _rules(findings) == {compliance.PRIVATE}


def test_workload_bound_by_functools_partial_is_followed(tmp_path):
  findings = _scan_source(tmp_path, """\
      import functools
      def peek(wl, params):
        return wl._eval_model_on_split('validation', params)
      def update_params(workload, **kwargs):
        return functools.partial(peek, workload)(None)
      """)
  assert _rules(findings) == {compliance.HELD_OUT}


def test_one_log_call_gives_one_finding_naming_everything_it_writes(tmp_path):
  (finding,) = _scan_source(tmp_path, _in_update_params(
      "kwargs['workload'].metrics_logger.append_scalar_metrics(\n"
      "    {'validation/loss': 0.0, 'test/loss': 0.0, 'loss': 1.0}, 1, is_eval=True)"))
  assert finding.rule == compliance.RESERVED_LOG
  assert "writes 'test/loss', 'validation/loss', is_eval through the metrics logger" in (
      finding.message)


def test_one_finding_per_rule_and_line(tmp_path):
  findings = _scan_source(tmp_path, 'import sys\nsys._getframe().f_back.f_locals\n')
  assert len(findings) == 1


# --- agreement with the runner ----------------------------------------------------------

def test_reserved_columns_cover_the_runners_leading_columns():
  from algoperf import logs, spec
  assert set(logs.RUNNER_COLUMNS) <= compliance.RESERVED_LOG_COLUMNS
  assert {f'{p}/' for p in spec.SPLIT_PREFIX.values()} | {logs.LAST_MEMBER_PREFIX} == set(
      compliance.RESERVED_LOG_PREFIXES)


def test_workload_members_named_by_the_rules_exist_on_the_spec():
  """A rename in algoperf.spec must not silently turn a rule off."""
  from algoperf import spec
  named = (compliance._ALLOWED_SPLIT_COUNTS | compliance._EVAL_ENTRY_POINTS
           | {'_build_input_queue', 'attach_metrics_logger', 'set_param_shapes_and_types'})
  workload_attributes = set(dir(spec.Workload)) | {'_eval_iters'}  # set in __init__
  assert named <= workload_attributes
