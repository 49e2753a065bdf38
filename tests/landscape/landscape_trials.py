"""Trial folders as the runner leaves them (meta_data_0.json + an Orbax checkpoint), written
directly from chosen params so the landscape tests need no training run. (A module with a
name of its own: test modules import it; `conftest` is ambiguous across test folders.)"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from algoperf import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_trial(root, name: str, workload: str, params, model_state=None, step: int = 100,
                with_checkpoint: bool = True) -> str:
  """<root>/<name>/study_0/<workload>_jax/trial_1 holding a checkpoint of `params`."""
  trial_dir = os.path.join(str(root), name, 'study_0', f'{workload}_jax', 'trial_1')
  os.makedirs(trial_dir, exist_ok=True)
  with open(os.path.join(trial_dir, 'meta_data_0.json'), 'w', encoding='utf-8') as f:
    json.dump({'workload': workload, 'rng_seed': 0}, f)
  if with_checkpoint:
    state = checkpoint.TrialState(
        params=jax.tree.map(np.asarray, params), model_state=model_state,
        optimizer_state={'mu': jax.tree.map(np.zeros_like, params)}, global_step=step,
        preemption_count=0, train_state={}, eval_results=[])
    checkpoint.save(trial_dir, state)
  return trial_dir


def quadratic_params(seed: int, scale: float = 1.0):
  theta = scale * np.random.default_rng(seed).normal(size=100).astype(np.float32)
  return {'theta': theta}
