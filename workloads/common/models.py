"""The models the small workloads share: an MLP and a ConvNet (1-D or 2-D).

mnist, fashion_mnist, mnist1d and their variants build the MLP; mnist1d_cnn and
fashion_mnist_cnn build the ConvNet. One parametrised module each, so a variant is a
change of arguments, never a copy of layers.
"""

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


def max_pool(x: jnp.ndarray, window: Sequence[int]) -> jnp.ndarray:
  """Non-overlapping max-pooling, 'SAME' padding: `nn.max_pool(x, window, window, 'SAME')`.

  Written as pad + reshape + max because its gradient is then an elementwise mask, while
  XLA:CPU's select-and-scatter gradient of `nn.max_pool` is ~10x slower and was most of a
  small CNN's train step. Ties share the gradient instead of giving it to the first max.
  """
  pads, shape = [(0, 0)], [x.shape[0]]
  for size, w in zip(x.shape[1:-1], window, strict=True):
    extra = -size % w
    pads.append((extra // 2, extra - extra // 2))
    shape += [(size + extra) // w, w]
  pads.append((0, 0))
  shape.append(x.shape[-1])
  x = jnp.pad(x, pads, constant_values=-jnp.inf).reshape(shape)
  return x.max(axis=tuple(range(2, 2 * len(window) + 1, 2)))


class ConvNet(nn.Module):
  """Conv blocks, flatten, Dense+activation per dense size, then a Dense output layer.

  A conv block is Conv ('SAME' padding) → BatchNorm (if `batch_norm`) → activation →
  max-pool (window = stride = `pool_size`, 'SAME' padding, if given), as in DeepOBS's
  2c2d. The number of spatial dimensions is `len(kernel_size)`: (5,) gives a 1-D net over
  (N, L, C), (5, 5) a 2-D net over NHWC. An input with no channel axis, (N, L) or (N, H, W),
  gets one. Layers keep Flax's automatic names (`Conv_0`, `BatchNorm_0`, `Dense_0`, …).

  Batch norm uses batch statistics and updates `batch_stats` iff `train`; its momentum of
  0.9 (AlgoPerf's ResNets) lets the running averages catch up within tens of steps.
  """

  conv_features: Sequence[int]
  kernel_size: Sequence[int]
  pool_size: Sequence[int] | None
  dense_sizes: Sequence[int]
  num_classes: int
  activation: str = 'relu'
  batch_norm: bool = False

  @property
  def output_layer_name(self) -> str:
    return f'Dense_{len(self.dense_sizes)}'

  @property
  def layer_groups(self) -> list[list[str]]:
    """Top-level param keys from input to output (`Workload.parameter_groups_input_to_output`):
    each conv with its batch norm, then the dense layers. Sorted keys put `BatchNorm_*` first."""
    convs = [[f'Conv_{i}', *([f'BatchNorm_{i}'] if self.batch_norm else [])]
             for i in range(len(self.conv_features))]
    return convs + [[f'Dense_{i}'] for i in range(len(self.dense_sizes) + 1)]

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    act = ACTIVATIONS[self.activation]
    if x.ndim == len(self.kernel_size) + 1:
      x = x[..., None]
    for features in self.conv_features:
      # A bias before batch norm is cancelled by its mean subtraction.
      x = nn.Conv(features, tuple(self.kernel_size), padding='SAME',
                  use_bias=not self.batch_norm)(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
      x = act(x)
      if self.pool_size:
        x = max_pool(x, self.pool_size)
    x = x.reshape((x.shape[0], -1))
    for size in self.dense_sizes:
      x = act(nn.Dense(size)(x))
    return nn.Dense(self.num_classes)(x)
