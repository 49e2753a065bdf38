"""The noisy quadratic problem (DeepOBS's `quadratic_deep`), generated with NumPy.

loss(θ; x) = ½ (θ − x)ᵀ H (θ − x) with H = Qᵀ diag(λ) Q: a fixed random rotation Q and a
spectrum λ with many small and a few large eigenvalues. The "data" are noise vectors
x ~ N(0, σ² I); every array comes from fixed seeds, so nothing is downloaded and every
machine sees the same problem. The expected loss at the optimum θ = 0 is ½ σ² tr(H).
"""

from __future__ import annotations

import numpy as np


def spectrum(dim: int, num_large: int, small_range: tuple[float, float],
             large_range: tuple[float, float], seed: int) -> np.ndarray:
  """`dim - num_large` eigenvalues uniform in `small_range`, `num_large` in `large_range`."""
  rng = np.random.default_rng((seed, 0))
  small = rng.uniform(*small_range, size=dim - num_large)
  large = rng.uniform(*large_range, size=num_large)
  return np.sort(np.concatenate([small, large]))


def rotation(dim: int, seed: int) -> np.ndarray:
  """A Haar-random orthogonal matrix (QR of a Gaussian matrix, signs fixed by R's diagonal)."""
  rng = np.random.default_rng((seed, 1))
  q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
  return q * np.sign(np.diag(r))


def hessian(eigenvalues: np.ndarray, q: np.ndarray) -> np.ndarray:
  """Qᵀ diag(λ) Q in float64, symmetrised against rounding."""
  h = q.T @ (eigenvalues[:, None] * q)
  return 0.5 * (h + h.T)


def noise(num_examples: int, dim: int, noise_std: float, seed: int,
          stream: int) -> dict[str, np.ndarray]:
  """One split: inputs x ~ N(0, σ² I) and the residual's target, zero.

  The model's output is the residual θ − x, whose target is 0 (see the workload's loss).
  """
  rng = np.random.default_rng((seed, 2, stream))
  x = (noise_std * rng.normal(size=(num_examples, dim))).astype(np.float32)
  return {'inputs': x, 'targets': np.zeros_like(x)}
