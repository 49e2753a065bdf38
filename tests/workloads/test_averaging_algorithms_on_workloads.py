"""SWA, FGE and snapshot ensembles train, prepare and evaluate on every lite base workload.

A four-step step hint puts two averaging or snapshot points in four steps, so each
`prepare_for_eval` returns a real average or a two-member ensemble; tiny batches and
256-example evals keep it cheap. Compiling the steps still costs 2-15 s per pair on a
2-core CPU, so the default run takes each algorithm once or twice on the four cheap
workloads (DEFAULT_PAIRS); the slow run takes every pair, char_lm's Transformer and
fashion_mnist_cnn's CNN included (their ensemble evaluation is also covered by
test_ensemble_eval_workloads.py, their batch-norm-free training by test_every_workload.py).
"""

import collections
import importlib
import math

import jax
import numpy as np
import pytest

from algoperf import spec
from algoperf import suite as suite_lib

ALGORITHMS = ('swa', 'fge', 'snapshot_ensemble')
LITE_BASE = suite_lib.load_suite(suite_lib.LITE).base_workloads
STEPS = 4
BATCH = 8
EVAL_EXAMPLES = 256
# NAdamW's knobs without warmup, and each method's knobs sized to the four-step hint:
# two averaging or snapshot points, at steps 2 and 3 (SWA) or 1 and 3 (FGE, snapshots).
HPARAMS = dict(learning_rate=1e-3, one_minus_beta1=0.1, beta2=0.999, warmup_factor=0.0,
               weight_decay=0.0, label_smoothing=0.0, dropout_rate=0.0,
               swa_start_fraction=0.5, swa_lr_ratio=0.2, swa_cycle_fraction=0.25,
               swa_cycle_lr_factor=1.0, ensemble_size=2, fge_cycle_fraction=0.5,
               fge_lr1_ratio=0.2, fge_lr2_ratio=0.002)


def _hparams():
  return collections.namedtuple('Hyperparameters', sorted(HPARAMS))(**HPARAMS)


def _train(submission, workload, data_dir, hp):
  params, model_state = workload.init_model_fn(jax.random.key(0))
  state = submission.init_optimizer_state(workload, params, model_state, hp,
                                          jax.random.key(1))
  queue = workload._build_input_queue(jax.random.key(2), 'train', data_dir, BATCH)
  for step in range(STEPS):
    state, params, model_state = submission.update_params(
        workload=workload, current_param_container=params,
        current_params_types=workload.model_params_types, model_state=model_state,
        hyperparameters=hp, batch=next(queue), loss_type=workload.loss_type,
        optimizer_state=state, eval_results=[], global_step=step,
        rng=jax.random.key(3 + step), train_state={})
  return state, params, model_state


DEFAULT_PAIRS = {('swa', 'mnist1d'), ('swa', 'noisy_quadratic'), ('fge', 'mnist1d_cnn'),
                 ('snapshot_ensemble', 'fashion_mnist')}
SLOW_ONLY_WORKLOADS = {'char_lm', 'fashion_mnist_cnn'}
PAIRS = [pytest.param(algorithm, name, id=f'{algorithm}-{name}',
                      marks=() if (algorithm, name) in DEFAULT_PAIRS else pytest.mark.slow)
         for algorithm in ALGORITHMS for name in LITE_BASE]


def test_default_pairs_cover_every_algorithm_and_every_cheap_workload():
  assert {name for _, name in DEFAULT_PAIRS} == set(LITE_BASE) - SLOW_ONLY_WORKLOADS
  assert {algorithm for algorithm, _ in DEFAULT_PAIRS} == set(ALGORITHMS)


@pytest.mark.parametrize('algorithm,name', PAIRS)
def test_trains_prepares_and_evaluates(algorithm, name, prepared):
  workload, data_dir = prepared(name)
  # Instance attributes (the class keeps the suite's values): the four-step hint, and
  # evals over the first EVAL_EXAMPLES examples of each split.
  workload.STEP_HINT = STEPS
  workload.NUM_EVAL_TRAIN = workload.NUM_VALIDATION = workload.NUM_TEST = EVAL_EXAMPLES
  hp = _hparams()
  submission = importlib.import_module(f'reference_algorithms.{algorithm}.submission')
  state, params, model_state = _train(submission, workload, data_dir, hp)
  _, evaluated, eval_state = submission.prepare_for_eval(
      workload, params, workload.model_params_types, model_state, hp, workload.loss_type,
      state, [], STEPS, jax.random.key(9))
  if algorithm == 'swa':
    assert jax.tree.structure(evaluated) == jax.tree.structure(params)
    assert int(state.tracked.count) == 2
  else:
    assert isinstance(evaluated, spec.Ensemble) and evaluated.num_members == 2
  results = workload.eval_model(EVAL_EXAMPLES, evaluated, eval_state,
                                jax.random.key(0), data_dir, None, STEPS)
  metric = workload.target_metric_name
  for split in ('train', 'validation', 'test'):
    value = results[f'{split}/{metric}']
    assert type(value) is float and math.isfinite(value)
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))
