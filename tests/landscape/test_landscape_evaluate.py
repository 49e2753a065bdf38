"""The batched evaluation equals the per-point loop, batch-norm statistics are recomputed
correctly, and the memory guard refuses what cannot fit."""

import jax
import numpy as np
import pytest

from algoperf import spec
from algoperf.landscape import LandscapeError, evaluate, geometry, memory
from workloads import registry


def _anchors(workload, seeds):
  """Random points of the workload's structure (its init traced, not compiled: fast)."""
  params, state = jax.eval_shape(workload.init_model_fn, jax.random.PRNGKey(0))
  out = []
  for seed in seeds:
    rng = np.random.default_rng(seed)
    point = jax.tree.map(lambda s, rng=rng: (0.2 * rng.normal(size=s.shape)).astype(s.dtype),
                         params)
    stats = None if state is None else jax.tree_util.tree_map_with_path(
        lambda path, s: np.full(s.shape, 1.0 if 'var' in str(path) else 0.0, s.dtype), state)
    out.append((point, stats))
  return out


@pytest.fixture(scope='module')
def bn_workload():
  return registry.get_workload('mnist1d_cnn_batchnorm')


def _evaluate_all(workload, anchors, weights, strategies=('loop', 'vmap', 'map'), **kw):
  data, results = None, {}
  for strategy in strategies:
    ev = evaluate.Evaluator(workload, anchors, evaluate.EvalSettings(strategy=strategy, **kw),
                            data)
    data = ev.data
    results[strategy] = ev.evaluate(weights)
  return results


def _assert_same(results, rtol=2e-5):
  for strategy, values in results.items():
    for name, reference in results['loop'].items():
      np.testing.assert_allclose(values[name], reference, rtol=rtol, atol=1e-6,
                                 err_msg=f'{strategy} {name}')


def test_batched_evaluation_equals_the_loop_and_the_exact_quadratic():
  workload = registry.get_workload('noisy_quadratic')
  anchors = [({'theta': np.random.default_rng(s).normal(size=100).astype(np.float32)}, None)
             for s in range(2)]
  ts = geometry.segment_ts(21, 0.5)   # 41 points: more than 32 in one chunk
  results = _evaluate_all(workload, anchors, geometry.segment_weights(ts),
                          num_train_examples=2000, num_validation_examples=2000)
  _assert_same(results)
  # Exact loss, float64: mean over examples of ½ (θ − x)ᵀ H (θ − x).
  h = workload.hessian
  a, b = (anchor[0]['theta'].astype(np.float64) for anchor in anchors)
  for split, name in (('train', 'eval_train'), ('validation', 'validation')):
    x = workload.splits('')[name]['inputs'][:2000].astype(np.float64)
    for t, got in zip(ts, results['map'][f'{split}/loss'], strict=True):
      r = (1 - t) * a + t * b - x
      assert got == pytest.approx(0.5 * np.mean(np.sum((r @ h) * r, axis=1)), rel=1e-5)


def test_batched_evaluation_equals_the_loop_on_an_mlp_with_more_than_32_points():
  """40 points in one chunk: XLA:CPU 0.10.2 once returned the first points' sums for the
  points past 32 here (evaluate.compiler_options works around it)."""
  workload = registry.get_workload('mnist1d')
  weights = geometry.curve_weights('bezier', 1, np.linspace(0, 1, 40))
  results = _evaluate_all(workload, _anchors(workload, range(3)), weights,
                          strategies=('loop', 'vmap'), num_train_examples=100,
                          num_validation_examples=100, eval_batch_size=100)
  _assert_same(results)
  assert len(set(np.round(results['vmap']['train/loss'], 5))) > 30  # distinct points


def _same_batch_data(workload, size=64, copies=3):
  """Every batch-norm batch and every eval batch the same batch X."""
  batch = {k: v[:size] for k, v in workload.splits('')['train'].items()}
  eval_batch = jax.device_put({**batch, 'weights': np.ones(size, np.float32)})
  data = evaluate.EvalData({'train': [eval_batch], 'validation': [eval_batch]},
                           {'train': size, 'validation': size},
                           [jax.device_put(batch)] * copies)
  return batch, data


def test_batch_norm_statistics_are_recomputed_at_each_point(bn_workload):
  workload = bn_workload
  anchors = _anchors(workload, (0, 1))
  batch, data = _same_batch_data(workload)
  # All batch-norm batches the same batch X: the recomputed statistics are X's own, so
  # evaluating X with them (running averages) equals the training-mode pass on X.
  ev = evaluate.Evaluator(workload, anchors, evaluate.EvalSettings(strategy='vmap'), data)
  # The running-average momentum, read from the model (ConvNet's BatchNorm: 0.9).
  assert [float(m) for m in jax.tree.leaves(ev.momenta)] == pytest.approx([0.9] * 4)
  assert ev.describe()['batch_norm_recomputed']
  weights = np.array([[1.0, 0.0], [0.4, 0.6], [0.0, 1.0]])
  got = ev.evaluate(weights)
  @jax.jit
  def train_mode_loss(w):
    params = jax.tree.map(lambda a, b: w[0] * a + w[1] * b, anchors[0][0], anchors[1][0])
    logits, _ = workload.model_fn(params, batch, anchors[0][1], spec.ForwardPassMode.TRAIN,
                                  None, update_batch_norm=True)
    return workload.loss_fn(batch['targets'], logits)['summed'] / 64
  for i, w in enumerate(weights):
    assert got['train/loss'][i] == pytest.approx(float(train_mode_loss(w)), rel=1e-4)


@pytest.mark.slow
def test_batch_norm_recomputing_is_the_same_in_every_strategy(bn_workload):
  _, data = _same_batch_data(bn_workload)
  weights = geometry.curve_weights('bezier', 1, np.linspace(0, 1, 5))
  results = {}
  for strategy in ('loop', 'vmap', 'map'):
    results[strategy] = evaluate.Evaluator(
        bn_workload, _anchors(bn_workload, (0, 1, 2)),
        evaluate.EvalSettings(strategy=strategy), data).evaluate(weights)
  _assert_same(results, rtol=1e-4)


def test_without_recomputing_the_trained_statistics_are_combined(bn_workload):
  workload = bn_workload
  anchors = _anchors(workload, (0, 1))
  anchors[1] = (anchors[1][0], jax.tree.map(lambda s: s + 0.5, anchors[1][1]))
  _, data = _same_batch_data(workload)
  ev = evaluate.Evaluator(workload, anchors, evaluate.EvalSettings(
      strategy='loop', recompute_bn=False), data)
  assert ev.state_mode == evaluate.STATE_COMBINED
  assert 'NOT recomputed' in ev.describe()['batch_norm']
  got = ev.evaluate(np.array([[0.25, 0.75]]))
  params = jax.tree.map(lambda a, b: 0.25 * a + 0.75 * b, anchors[0][0], anchors[1][0])
  state = jax.tree.map(lambda a, b: 0.25 * a + 0.75 * b, anchors[0][1], anchors[1][1])
  expected = workload._eval_step(params, state, data.batches['train'][0])
  assert got['train/loss'][0] == pytest.approx(float(expected['loss']) / 64, rel=1e-5)


def test_the_memory_guard_refuses_a_point_or_a_grid_that_cannot_fit():
  workload = registry.get_workload('noisy_quadratic')
  anchors = [({'theta': np.zeros(100, np.float32)}, None)] * 2
  with pytest.raises(LandscapeError, match='lower --eval_batch_size'):
    evaluate.Evaluator(workload, anchors, evaluate.EvalSettings(memory_budget_mb=0.5))
  ev = evaluate.Evaluator(workload, anchors, evaluate.EvalSettings(
      memory_budget_mb=64, num_train_examples=100, num_validation_examples=100))
  assert 1 <= ev.chunk_size <= 64
  with pytest.raises(LandscapeError, match='use fewer points'):
    ev.check_points(10**9, 'use fewer points')
  assert memory.points_per_chunk(10, 0, 1000, 64) == 64
  assert memory.points_per_chunk(100, 100, 1000, 64) == 9
