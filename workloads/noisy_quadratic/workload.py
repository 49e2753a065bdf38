"""Noisy quadratic: minimise E_x ½ (θ − x)ᵀ H (θ − x) from noisy samples x (offline).

A problem whose curvature is known exactly: H's spectrum is set by class constants, so a
variant with a wider spectrum is a small subclass, and instruments that estimate curvature
or gradient noise can be checked against the truth. The optimum is θ = 0 with expected
loss ½ σ² tr(H); how close a run gets is limited by gradient noise, so the final loss
depends on the learning-rate schedule.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import jax_sharding_utils, spec
from workloads.common.in_memory_workload import masked_loss_output
from workloads.common.regression import RegressionWorkload
from workloads.common.suite_constants import from_suite
from workloads.noisy_quadratic import problem


@from_suite('noisy_quadratic')
class NoisyQuadraticWorkload(RegressionWorkload):
  """DeepOBS quadratic_deep: 100 dims, 90 eigenvalues in [0, 1] and 10 in [30, 60].

  Params are one vector {'theta': (DIM,)}, started at INIT_SCALE·N(0, I) from the init
  rng. `model_fn` returns the per-example residual θ − x; `loss_fn` is the H-weighted
  squared error ½ rᵀ H r of that residual against its target 0 (label smoothing does not
  apply and is ignored).
  """

  DIM = 100
  NUM_LARGE = 10
  SMALL_EIGENVALUES = (0.0, 1.0)
  LARGE_EIGENVALUES = (30.0, 60.0)
  NOISE_STD = 0.6
  INIT_SCALE = 1.0
  HESSIAN_SEED = 0
  DATA_SEED = 1

  DEFAULT_BATCH_SIZE = 128

  NUM_TRAIN = 10_000
  NUM_EVAL_TRAIN = 10_000
  NUM_VALIDATION = 10_000
  NUM_TEST = 10_000
  EVAL_BATCH_SIZE = 10_000

  # --- the problem -------------------------------------------------------------------

  @functools.cached_property
  def eigenvalues(self) -> np.ndarray:
    """H's spectrum (float64, ascending)."""
    return problem.spectrum(self.DIM, self.NUM_LARGE, self.SMALL_EIGENVALUES,
                            self.LARGE_EIGENVALUES, self.HESSIAN_SEED)

  @functools.cached_property
  def hessian(self) -> np.ndarray:
    """H = Qᵀ diag(λ) Q in float64."""
    return problem.hessian(self.eigenvalues, problem.rotation(self.DIM, self.HESSIAN_SEED))

  @property
  def expected_optimal_loss(self) -> float:
    """E_x loss(0; x) = ½ σ² tr(H): the loss floor no optimizer can beat on average."""
    return 0.5 * self.NOISE_STD**2 * float(np.sum(self.eigenvalues))

  @functools.cached_property
  def _hessian_f32(self) -> np.ndarray:
    return self.hessian.astype(np.float32)

  def load_splits(self, data_dir):
    del data_dir  # Generated: no files.
    self.data_location = 'generated'
    sizes = {'train': self.NUM_TRAIN, 'validation': self.NUM_VALIDATION,
             'test': self.NUM_TEST}
    splits = {name: problem.noise(n, self.DIM, self.NOISE_STD, self.DATA_SEED, stream)
              for stream, (name, n) in enumerate(sizes.items())}
    splits['eval_train'] = {k: v[:self.NUM_EVAL_TRAIN] for k, v in splits['train'].items()}
    return splits

  # --- model ---------------------------------------------------------------------------

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    del dropout_rate, aux_dropout_rate  # No dropout.
    params = {'theta': self.INIT_SCALE * jax.random.normal(rng, (self.DIM,), jnp.float32)}
    self.set_param_shapes_and_types(params, {'theta': spec.ParameterType.WEIGHT})
    return jax_sharding_utils.replicate(params), None

  def is_output_params(self, param_key: spec.ParameterKey) -> bool:
    return param_key == 'theta'

  def model_fn(self, params, augmented_and_preprocessed_input_batch, model_state, mode, rng,
               update_batch_norm, dropout_rate=None):
    del mode, rng, update_batch_norm, dropout_rate
    residual = params['theta'][None, :] - augmented_and_preprocessed_input_batch['inputs']
    return residual, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
    del label_smoothing  # Not a classification loss.
    residual = logits_batch - label_batch
    per_example = 0.5 * jnp.sum((residual @ self._hessian_f32) * residual, axis=-1)
    return masked_loss_output(per_example, mask_batch)


@from_suite('noisy_quadratic_illcond')
class NoisyQuadraticIllCondWorkload(NoisyQuadraticWorkload):
  """Variant: top eigenvalues 10x larger (condition number ~10x higher), its own target."""

  LARGE_EIGENVALUES = (300.0, 600.0)
