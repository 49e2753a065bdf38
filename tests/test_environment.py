"""The environment AlgoPerf submissions expect (docs/environments.md).

Every test here is marked `compat`: CI runs them again in a fresh virtualenv installed with
AlgoPerf v0.6's pins (`pip install -c constraints/algoperf-v0.6.txt -e '.[dev]'`), with
ALGOPERF_EXPECT_CONSTRAINTS naming that file so the run fails if the set installed is not
the one it claims to test.
"""

import math
import os
import pathlib
import re
import sys
import tomllib
from importlib import metadata

import jax
import jax.numpy as jnp
import pytest

from algoperf import runner, submission, tuning

TESTS_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

pytestmark = pytest.mark.compat

CONSTRAINTS_DIR = REPO_ROOT / 'constraints'
EXPECT_ENV = 'ALGOPERF_EXPECT_CONSTRAINTS'
# AlgoPerf v0.6's `jax_cpu` / `jax_core_deps` extras (mlcommons/algorithmic-efficiency,
# pyproject.toml), copied from there rather than from this project's constraints file.
ALGOPERF_V06_PINS = {'jax': '0.7.0', 'jaxlib': '0.7.0', 'flax': '0.10.7', 'optax': '0.2.2',
                     'chex': '0.1.86'}
LEGACY_SUBMISSION = TESTS_DIR / 'submissions' / 'v05_jax_apis.py'


def _normalize(name: str) -> str:
  return re.sub(r'[-_.]+', '-', name).lower()


def read_pins(path) -> dict[str, str]:
  """`name==version` lines of a pip constraints file, names normalized (PEP 503)."""
  pins = {}
  for raw in pathlib.Path(path).read_text().splitlines():
    line = raw.split('#', 1)[0].strip()
    if not line:
      continue
    match = re.fullmatch(r'([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)', line)
    assert match, f'{path}: not a name==version pin: {raw!r}'
    pins[_normalize(match.group(1))] = match.group(2)
  return pins


def _has_v05_jax_apis() -> bool:
  if not hasattr(jax, 'tree_map'):
    return False
  try:
    jnp.clip(jnp.zeros(1), a_min=0.0)
  except TypeError:
    return False
  return True


# --- What AlgoPerf's JAX environment ships ------------------------------------------------


def test_chex_and_jraph_import_and_work():
  import chex
  import jraph

  chex.assert_shape(jnp.zeros((2, 3)), (2, 3))
  chex.assert_trees_all_close({'a': jnp.ones(2)}, {'a': jnp.ones(2)})
  graph = jraph.GraphsTuple(
      nodes=jnp.ones((3, 2)), edges=jnp.ones((2, 1)), senders=jnp.array([0, 1]),
      receivers=jnp.array([1, 2]), n_node=jnp.array([3]), n_edge=jnp.array([2]),
      globals=jnp.zeros((1, 1)))
  # jraph's own layer (sum of incoming edge features per node), as an ogbg model uses it.
  network = jraph.GraphNetwork(update_edge_fn=lambda e, s, r, g: e,
                               update_node_fn=lambda n, s, r, g: n + r)
  assert jax.jit(network)(graph).nodes.tolist() == [[1, 1], [2, 2], [2, 2]]
  padded = jraph.pad_with_graphs(graph, n_node=5, n_edge=4, n_graph=2)
  assert padded.n_node.tolist() == [3, 2]


def test_chex_and_jraph_are_dependencies_and_torch_an_optional_extra():
  project = tomllib.loads((REPO_ROOT / 'pyproject.toml').read_text())['project']
  names = {_normalize(re.split(r'[<>=!~ ;\[]', d, maxsplit=1)[0])
           for d in project['dependencies']}
  assert {'chex', 'jraph'} <= names
  assert 'torch' not in names
  assert any(d.startswith('torch') for d in project['optional-dependencies']['torch'])


# --- The pinned sets ----------------------------------------------------------------------


def test_v06_constraints_pin_algoperfs_versions():
  pins = read_pins(CONSTRAINTS_DIR / 'algoperf-v0.6.txt')
  assert {name: pins.get(name) for name in ALGOPERF_V06_PINS} == ALGOPERF_V06_PINS


def test_v05_constraints_pin_a_jax_that_still_has_the_v05_apis():
  pins = read_pins(CONSTRAINTS_DIR / 'algoperf-v0.5.txt')
  # jax.tree_map left in JAX 0.6.0 (jnp.clip's a_min/a_max in 0.10.0).
  assert tuple(int(p) for p in pins['jax'].split('.')[:2]) < (0, 6)
  assert pins['jaxlib'] == pins['jax']
  for name in ('optax', 'chex'):  # As in AlgoPerf v0.6's set.
    assert pins[name] == ALGOPERF_V06_PINS[name]


@pytest.mark.parametrize('name', ['algoperf-v0.5.txt', 'algoperf-v0.6.txt'])
def test_every_constraints_file_pins_the_jax_stack_and_jraph(name):
  pins = read_pins(CONSTRAINTS_DIR / name)
  assert {'jax', 'jaxlib', 'flax', 'optax', 'chex', 'jraph', 'orbax-checkpoint'} <= set(pins)


def test_installed_versions_match_the_expected_constraints():
  """With ALGOPERF_EXPECT_CONSTRAINTS=<file>: every pin in it is what is installed."""
  expected = os.environ.get(EXPECT_ENV)
  if not expected:
    pytest.skip(f'{EXPECT_ENV} is not set: this run does not claim a pinned set')
  from packaging.version import Version

  path = pathlib.Path(expected)
  pins = read_pins(path if path.is_absolute() else REPO_ROOT / path)
  installed = {}
  for name in pins:
    try:
      installed[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      installed[name] = None
  wrong = {name: (pin, installed[name]) for name, pin in pins.items()
           if installed[name] is None or Version(installed[name]) != Version(pin)}
  assert not wrong, f'{expected}: pinned vs installed: {wrong}'
  assert jax.__version__ == pins['jax']


# --- Submissions run in the set that has their APIs ---------------------------------------


def _run_toy_trial(submission_path, tmp_path, hparams, max_steps=30):
  sub = submission.load_submission(str(submission_path))
  workload = toy_workload.ToyRegressionWorkload(validation_target=1e-9, test_target=1e-9,
                                                eval_period_sec=1e9)
  num_devices = jax.device_count()
  hyperparameters = tuning.hyperparameters_type(list(hparams))(**hparams)
  config = runner.TrialConfig(
      workload=workload, workload_name='toy', submission=sub,
      hyperparameters=hyperparameters, seed=0,
      global_batch_size=submission.resolve_batch_size(
          sub, 'toy', 'toy', workload.default_batch_size, num_devices),
      eval_batch_size=submission.resolve_eval_batch_size(
          sub, 'toy', workload.eval_batch_size, num_devices),
      budget_sec=120.0, log_dir=str(tmp_path / 'trial_1'), max_global_steps=max_steps,
      save_checkpoints=False, show_progress=False)
  result = runner.run_trial(config)
  assert result.status == runner.MAX_STEPS and result.global_step == max_steps
  first, last = (row['validation/loss'] for _, row in result.eval_results)
  assert math.isfinite(last) and last < 0.5 * first, (first, last)
  return result


@pytest.mark.skipif(not _has_v05_jax_apis(),
                    reason=f'JAX {jax.__version__} has no jax.tree_map / jnp.clip(a_min=...): '
                           'the v0.5-era submission runs in the AlgoPerf v0.5 set '
                           '(pip install -c constraints/algoperf-v0.5.txt -e .)')
def test_submission_using_v05_jax_apis_trains(tmp_path):
  _run_toy_trial(LEGACY_SUBMISSION, tmp_path, {'learning_rate': 0.05})


def test_nadamw_baseline_trains_with_the_installed_optax(tmp_path):
  """The main job's baseline runs on every supported Optax (reference_algorithms/common/optax_compat.py)."""
  hparams = {'learning_rate': 0.05, 'one_minus_beta1': 0.1, 'beta2': 0.999,
             'warmup_factor': 0.05, 'weight_decay': 1e-4, 'label_smoothing': 0.0,
             'dropout_rate': 0.0}
  _run_toy_trial(REPO_ROOT / 'reference_algorithms' / 'nadamw' / 'submission.py', tmp_path,
                 hparams)
