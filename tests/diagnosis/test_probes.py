"""The probe observer measures what docs/diagnose.md says, and training does not feel it."""

import os

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from algoperf import experiment
from algoperf.diagnosis import probes
from algoperf.observers import TrialContext
from workloads import registry
from workloads.noisy_quadratic.workload import NoisyQuadraticWorkload


def _context(workload, log_dir, params, resumed_at=None):
  return TrialContext(workload=workload, log_dir=str(log_dir), seed=0, preemption_count=0,
                      resumed_at=resumed_at, initial_params=params, initial_model_state=None,
                      to_workload_form=lambda p, s: (p, s), batch_to_workload_form=lambda b: b)


def test_losses_and_gradient_norms_match_the_quadratic_in_closed_form(tmp_path):
  workload = NoisyQuadraticWorkload()
  splits = workload.splits(None)
  h = workload.hessian
  theta = np.linspace(-1, 1, workload.DIM)
  params = {'theta': jnp.asarray(theta, jnp.float32)}
  batch = {k: v[:32] for k, v in splits['train'].items()}
  settings = probes.ProbeSettings(every=3, validation_subset=100, grad_subset=300,
                                  batch_grad_norm=True)
  observer = settings(_context(workload, tmp_path, params))
  assert [s for s in range(10) if observer.wants(s)] == [0, 3, 6, 9]
  observer.before_update(6, params, None, batch)

  def loss(x):
    r = theta[None, :] - x
    return float(np.mean(0.5 * np.einsum('bi,ij,bj->b', r, h, r)))

  def grad_norm(x):
    return float(np.linalg.norm(h @ (theta - x.mean(axis=0))))

  [row] = pd.read_csv(tmp_path / probes.PROBE_CSV).to_dict('records')
  assert row['global_step'] == 6
  assert row['train_loss'] == pytest.approx(loss(batch['inputs']), rel=1e-4)
  assert row['batch_grad_norm'] == pytest.approx(grad_norm(batch['inputs']), rel=1e-4)
  # The subsets: the first examples of their split, 300 = 256 + 44 in two chunks.
  assert row['validation_subset_loss'] == pytest.approx(
      loss(splits['validation']['inputs'][:100]), rel=1e-4)
  assert row['train_subset_grad_norm'] == pytest.approx(
      grad_norm(splits['eval_train']['inputs'][:300]), rel=1e-4)


def test_a_resumed_trial_drops_the_rows_it_will_redo(tmp_path):
  workload = NoisyQuadraticWorkload()
  params = {'theta': jnp.zeros(workload.DIM)}
  batch = {k: v[:8] for k, v in workload.splits(None)['train'].items()}
  first = probes.ProbeSettings()(_context(workload, tmp_path, params))
  for step in range(5):
    first.before_update(step, params, None, batch)
  probes.ProbeSettings()(_context(workload, tmp_path, params, resumed_at=3))
  assert list(probes.read(str(tmp_path))['global_step']) == [0, 1, 2]


def _evals(tmp_path, name, observers):
  config = experiment.ExperimentConfig(
      submission_path='reference_algorithms/momentum/submission.py',
      workload_name='noisy_quadratic', experiment_dir=str(tmp_path), experiment_name=name,
      tuning_search_space='reference_algorithms/momentum/tuning_search_space_fixed.json',
      rng_seed=3, max_global_steps=12, isolate_trials=False, observers=observers,
      show_progress=False)
  [outcome] = experiment.run_experiment(config, registry.workload_class('noisy_quadratic'),
                                        'noisy_quadratic')
  frame = pd.read_csv(os.path.join(outcome.log_dir, 'eval_measurements.csv'))
  return frame[[c for c in frame if '/' in c or c == 'global_step']], outcome.log_dir


def test_training_is_bit_identical_with_and_without_the_probe(tmp_path):
  plain, _ = _evals(tmp_path, 'plain', ())
  probed, log_dir = _evals(tmp_path, 'probed', (probes.ProbeSettings(
      every=1, validation_subset=64, grad_subset=512, batch_grad_norm=True),))
  pd.testing.assert_frame_equal(plain, probed, check_exact=True)
  assert len(probes.read(log_dir)) == 12
