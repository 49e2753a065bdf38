"""Curve training: resuming continues identically; a convex problem has no barriers."""

import json
import os

import jax
import numpy as np
import pytest

from algoperf.landscape import LandscapeError, curve, evaluate, points, report, views
from workloads import registry


@pytest.fixture(scope='module')
def quadratic():
  return registry.get_workload('noisy_quadratic')


def _theta(seed):
  return {'theta': np.random.default_rng(seed).normal(size=100).astype(np.float32)}


def _trainer(workload, folder, steps=40, **kw):
  settings = curve.CurveSettings(steps=steps, checkpoint_every=20, log_every=5, **kw)
  identity = {'workload': 'noisy_quadratic', 'start': 'A', 'end': 'B'}
  return curve.CurveTrainer(workload, (_theta(0), None), (_theta(1), None), settings,
                            str(folder), identity)


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves((state.bends, state.opt_state))]


class _InterruptAt:
  def __init__(self, step):
    self.step = step

  def __call__(self, step, total, loss):
    if step == self.step:
      raise KeyboardInterrupt


def test_interrupted_curve_training_resumes_identically(quadratic, tmp_path):
  straight = _trainer(quadratic, tmp_path / 'straight').train()
  assert straight.step == 40

  with pytest.raises(curve.CurveInterrupted) as stopped:
    _trainer(quadratic, tmp_path / 'resumed').train(_InterruptAt(17))
  assert stopped.value.step == 17   # Checkpointed at the interrupt, not only at step 20.
  assert _trainer(quadratic, tmp_path / 'resumed').trained_steps() == 17
  resumed = _trainer(quadratic, tmp_path / 'resumed').train()

  assert resumed.step == straight.step
  for a, b in zip(_leaves(straight), _leaves(resumed), strict=True):
    np.testing.assert_array_equal(a, b)
  assert resumed.log == straight.log
  # A finished curve is not trained further: the same state comes back.
  again = _trainer(quadratic, tmp_path / 'resumed').train()
  for a, b in zip(_leaves(straight), _leaves(again), strict=True):
    np.testing.assert_array_equal(a, b)


def test_a_curve_trained_with_other_settings_is_not_resumed(quadratic, tmp_path):
  _trainer(quadratic, tmp_path, steps=10).train()
  with pytest.raises(LandscapeError, match='--overwrite'):
    _trainer(quadratic, tmp_path, steps=10, learning_rate=0.1).train()
  other = _trainer(quadratic, tmp_path, steps=10, learning_rate=0.1)
  other.reset()
  assert other.train().step == 10


def _context(workload, thetas):
  trained = [points.TrainedPoint(f'/trials/seed{i}', 1, 'noisy_quadratic', t, None)
             for i, t in enumerate(thetas)]
  settings = evaluate.EvalSettings(num_train_examples=1000, num_validation_examples=1000)
  return views.Context('noisy_quadratic', workload, trained, settings, show_progress=False)


def test_a_convex_problem_has_no_barrier_on_the_segment_or_the_trained_curve(quadratic,
                                                                             tmp_path):
  """Ground truth: the noisy quadratic's loss is convex, so the segment's maximum is at an
  endpoint; the trained curve bends towards the minimum and stays below both."""
  ctx = _context(quadratic, [_theta(0), _theta(1)])
  settings = curve.CurveSettings(steps=150, learning_rate=0.05, checkpoint_every=1000)
  view = views.connect(ctx, settings, str(tmp_path / 'nq'))
  summary = report.write_view(str(tmp_path / 'nq'), view)
  scale = max(summary['endpoints']['train/loss'])
  for path in ('segment', 'curve'):
    for name, value in summary['barriers'][path].items():
      assert 0.0 <= value <= 1e-6 * scale, (path, name, value)
  # The bend moved off the segment, towards lower loss.
  assert summary['bend_displacement_relative'][0] > 0.01
  middle = view.arrays['curve/train/loss'][30]
  assert middle < view.arrays['segment/train/loss'][30]
  with open(tmp_path / 'nq' / 'connect.json', encoding='utf-8') as f:
    assert json.load(f)['barriers'] == summary['barriers']
  assert {'connect.npz', 'connect.png', 'connect_training.png', 'landscape.html'} <= set(
      os.listdir(tmp_path / 'nq'))


def test_a_convex_problem_has_no_barrier_on_the_margins_segment(quadratic):
  ctx = _context(quadratic, [_theta(3), _theta(4)])
  view = views.interpolate(ctx, num_points=21, margin=0.3)
  for value in view.summary['barriers']['segment'].values():
    assert value == pytest.approx(0.0, abs=1e-6)
  loss = view.arrays['segment/train/loss']
  # Convex along the line: second differences are non-negative.
  assert np.all(np.diff(loss, 2) >= -1e-3 * loss.max())


@pytest.mark.slow
def test_batch_norm_curve_training_resumes_identically(tmp_path):
  workload = registry.get_workload('mnist1d_cnn_batchnorm')
  params, state = workload.init_model_fn(jax.random.PRNGKey(0))
  other, _ = workload.init_model_fn(jax.random.PRNGKey(1))
  settings = curve.CurveSettings(steps=20, checkpoint_every=5, log_every=5, batch_size=32)

  def trainer(folder):
    return curve.CurveTrainer(workload, (params, state), (other, state), settings,
                              str(folder), {'workload': 'mnist1d_cnn_batchnorm'})
  straight = trainer(tmp_path / 'a').train()
  with pytest.raises(curve.CurveInterrupted):
    trainer(tmp_path / 'b').train(_InterruptAt(7))
  resumed = trainer(tmp_path / 'b').train()
  for a, b in zip(_leaves(straight), _leaves(resumed), strict=True):
    np.testing.assert_array_equal(a, b)
