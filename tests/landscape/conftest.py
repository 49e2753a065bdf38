"""Fixtures of the landscape tests (helpers: landscape_trials.py)."""

import pytest
from landscape_trials import quadratic_params, write_trial


@pytest.fixture(scope='session')
def quadratic_trials(tmp_path_factory):
  """Three noisy_quadratic points (random θ): A, B and C off their line."""
  root = tmp_path_factory.mktemp('nq_trials')
  return [write_trial(root, f'seed{seed}', 'noisy_quadratic', quadratic_params(seed))
          for seed in range(3)]
