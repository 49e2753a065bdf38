"""The MLP every MLP workload builds (mnist, fashion_mnist, mnist1d and their variants)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable[[jnp.ndarray], jnp.ndarray]] = {
    'relu': nn.relu,
    'gelu': nn.gelu,
    'tanh': nn.tanh,
    'sigmoid': nn.sigmoid,
    'silu': nn.silu,
}


class MLP(nn.Module):
  """Flatten, then Dense+activation per hidden size, then a Dense output layer.

  Layers keep Flax's automatic names (`Dense_0`, …) so AlgoPerf's MNIST parameter tree
  (`Dense_0`, `Dense_1`) is reproduced exactly.
  """

  hidden_sizes: Sequence[int]
  num_classes: int
  activation: str = 'relu'

  @property
  def output_layer_name(self) -> str:
    return f'Dense_{len(self.hidden_sizes)}'

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    del train  # No batch norm or dropout.
    x = x.reshape((x.shape[0], -1))
    for size in self.hidden_sizes:
      x = ACTIVATIONS[self.activation](nn.Dense(size)(x))
    return nn.Dense(self.num_classes)(x)
