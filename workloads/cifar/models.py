"""ResNet-18 (v1) for 32x32 images, as AlgoPerf's CIFAR model (after Flax's ImageNet example).

A 3x3 stride-1 stem (no max-pool), four stages of two basic blocks (64·2^i filters),
4x4 average pooling, a Dense head. Batch norm (momentum 0.9, eps 1e-5) keeps running
statistics in the `batch_stats` collection: the workload's model_state.
The projection shortcut's modules are named `Conv_proj`/`BatchNorm_proj` (AlgoPerf:
`conv_proj`/`norm_proj`) so every batch-norm parameter is typed as one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


class ResNetBlock(nn.Module):
  """Two 3x3 convs with a residual; the second norm starts at zero scale."""

  filters: int
  strides: tuple[int, int] = (1, 1)

  @nn.compact
  def __call__(self, x, conv, norm):
    residual = x
    y = norm()(conv(self.filters, (3, 3), self.strides)(x))
    y = nn.relu(y)
    y = norm(scale_init=nn.initializers.zeros)(conv(self.filters, (3, 3))(y))
    if residual.shape != y.shape:
      residual = conv(self.filters, (1, 1), self.strides, name='Conv_proj')(residual)
      residual = norm(name='BatchNorm_proj')(residual)
    return nn.relu(residual + y)


class ResNet(nn.Module):
  stage_sizes: Sequence[int]
  num_classes: int = 10
  num_filters: int = 64
  output_layer_name = 'Dense_0'

  @property
  def layer_groups(self) -> list[list[str]]:
    """Top-level param keys from input to output (`Workload.parameter_groups_input_to_output`):
    the stem, each residual block, the head. Sorted keys would put `Dense_0` before the blocks."""
    blocks = [[f'ResNetBlock_{i}'] for i in range(sum(self.stage_sizes))]
    return [['Conv_init', 'BatchNorm_init'], *blocks, [self.output_layer_name]]

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """`train`: normalise with (and update) batch statistics instead of running ones."""
    conv = functools.partial(nn.Conv, use_bias=False)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=1e-5)
    x = conv(self.num_filters, (3, 3), padding=[(1, 1), (1, 1)], name='Conv_init')(x)
    x = nn.relu(norm(name='BatchNorm_init')(x))
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        strides = (2, 2) if i > 0 and j == 0 else (1, 1)
        x = ResNetBlock(self.num_filters * 2**i, strides)(x, conv, norm)
    x = nn.avg_pool(x, (4, 4), strides=(4, 4))
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, kernel_init=nn.initializers.normal())(x)


def make_model() -> ResNet:
  return ResNet(stage_sizes=(2, 2, 2, 2))
