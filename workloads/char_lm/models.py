"""A small decoder-only Transformer over bytes, and its parameter types.

Token and learned position embeddings, `num_layers` blocks of causal self-attention and
an MLP, each with a residual connection and LayerNorm (before the branch, or after the
sum when `post_norm`), then a Dense output layer over the vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import jax.numpy as jnp

from algoperf import spec
from workloads.common import param_types
from workloads.common.models import ACTIVATIONS

_EMBEDDING_INIT = nn.initializers.normal(stddev=0.02)  # GPT-2's; unit-scale rows swamp blocks.


class Block(nn.Module):
  """Self-attention then MLP, pre- or post-LayerNorm; dropout on each branch's output."""

  num_heads: int
  mlp_dim: int
  activation: str
  post_norm: bool

  @nn.compact
  def __call__(self, x, mask, dropout_rate: float, deterministic: bool):
    def residual(x, branch):
      y = branch(x if self.post_norm else nn.LayerNorm()(x))
      x = x + nn.Dropout(dropout_rate)(y, deterministic=deterministic)
      return nn.LayerNorm()(x) if self.post_norm else x

    def attention(y):
      return nn.MultiHeadDotProductAttention(num_heads=self.num_heads)(y, mask=mask)

    def mlp(y):
      y = ACTIVATIONS[self.activation](nn.Dense(self.mlp_dim)(y))
      return nn.Dense(x.shape[-1])(y)

    return residual(residual(x, attention), mlp)


class TransformerLM(nn.Module):
  """(batch, length) int tokens -> (batch, length, vocab_size) next-token logits."""

  vocab_size: int
  max_length: int
  d_model: int
  num_heads: int
  num_layers: int
  mlp_dim: int
  activation: str = 'gelu'
  post_norm: bool = False

  output_layer_name = 'output'

  @property
  def layer_groups(self) -> list[list[str]]:
    """Top-level param keys from input to output (`Workload.parameter_groups_input_to_output`):
    the embeddings, each block, then the head (final LayerNorm, if any, and the output)."""
    head = [*([] if self.post_norm else ['LayerNorm_0']), self.output_layer_name]
    blocks = [[f'Block_{i}'] for i in range(self.num_layers)]
    return [['token_embedding', 'position_embedding'], *blocks, head]

  @nn.compact
  def __call__(self, tokens, train: bool = False, dropout_rate: float = 0.0):
    deterministic = not train or not dropout_rate
    length = tokens.shape[-1]
    x = nn.Embed(self.vocab_size, self.d_model, embedding_init=_EMBEDDING_INIT,
                 name='token_embedding')(tokens)
    positions = nn.Embed(self.max_length, self.d_model, embedding_init=_EMBEDDING_INIT,
                         name='position_embedding')(jnp.arange(length))
    x = nn.Dropout(dropout_rate)(x + positions, deterministic=deterministic)
    mask = nn.make_causal_mask(tokens)
    for _ in range(self.num_layers):
      x = Block(self.num_heads, self.mlp_dim, self.activation, self.post_norm)(
          x, mask, dropout_rate, deterministic)
    if not self.post_norm:  # Post-norm blocks already end in a LayerNorm.
      x = nn.LayerNorm()(x)
    return nn.Dense(self.vocab_size, name=self.output_layer_name)(x)


_ATTENTION_KERNELS = {
    'query': spec.ParameterType.ATTENTION_Q,
    'key': spec.ParameterType.ATTENTION_K,
    'value': spec.ParameterType.ATTENTION_V,
    'out': spec.ParameterType.ATTENTION_OUT,
}


def infer_param_types(params: Mapping) -> dict:
  """The shared types, with AlgoPerf's attention types for the attention projections
  (the shared rule alone would call the 3-D query/key/value kernels conv weights)."""
  return _with_attention_types(param_types.infer_param_types(params))


def _with_attention_types(types: Mapping, in_attention: bool = False) -> dict:
  result = {}
  for key, value in types.items():
    if not isinstance(value, Mapping):
      result[key] = value
    elif in_attention and key in _ATTENTION_KERNELS:
      result[key] = {name: _ATTENTION_KERNELS[key] if name == 'kernel'
                     else spec.ParameterType.ATTENTION_BIAS for name in value}
    else:
      result[key] = _with_attention_types(value, in_attention or 'attention' in key.lower())
  return result
