"""char_lm: next-byte prediction on the World English Bible with a small Transformer.

Each example is a window of 64 bytes (`inputs`) and the same window shifted by one
(`targets`); the loss is per-token softmax cross-entropy and the target metric is bits
per character (per byte: 98% of the bytes are ASCII characters), lower is better.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils, spec
from workloads.char_lm import input_pipeline, models
from workloads.common.classification import ClassificationWorkload, softmax_cross_entropy
from workloads.common.suite_constants import from_suite


def token_mask(mask_batch, token_shape: tuple[int, ...]) -> jax.Array:
  """A per-token mask from none (all valid), a per-window (batch,) or a per-token mask."""
  if mask_batch is None:
    return jnp.ones(token_shape, jnp.float32)
  mask_batch = jnp.asarray(mask_batch, jnp.float32)
  extra_axes = len(token_shape) - mask_batch.ndim
  return jnp.broadcast_to(mask_batch.reshape(mask_batch.shape + (1,) * extra_axes), token_shape)


@from_suite('char_lm')
class CharLmWorkload(ClassificationWorkload):
  """Data: `input_pipeline` (its files in --data_dir when given, else Debian sword-text-web).

  Reuses the in-memory classification machinery (splits, train/eval queues, constants);
  a "class" is the next byte of each position. `n_valid_examples` counts tokens, and
  `num_*_examples` count windows. `dropout_rate` (default 0) acts on the embeddings and
  on every residual branch; `aux_dropout_rate` is not used.
  """

  num_classes = input_pipeline.VOCAB_SIZE
  input_shape = (input_pipeline.SEQUENCE_LENGTH,)
  target_metric_name = 'bits_per_char'
  target_metric_higher_is_better = False

  # The model: see models.TransformerLM.
  D_MODEL = 64
  NUM_HEADS = 4
  NUM_LAYERS = 2
  MLP_DIM = 256
  ACTIVATION = 'gelu'
  POST_NORM = False

  DEFAULT_BATCH_SIZE = 32

  # Windows of 64 bytes in the real corpus's splits (eval sets: evenly spaced subsets).
  NUM_TRAIN = 70_259
  NUM_EVAL_TRAIN = 256
  NUM_VALIDATION = 256
  NUM_TEST = 256
  EVAL_BATCH_SIZE = 256

  def __init__(self) -> None:
    super().__init__()
    self._dropout_rate = 0.0  # Set by init_model_fn; model_fn's argument overrides it.

  def build_model(self):
    return models.TransformerLM(
        vocab_size=self.num_classes, max_length=input_pipeline.SEQUENCE_LENGTH,
        d_model=self.D_MODEL, num_heads=self.NUM_HEADS, num_layers=self.NUM_LAYERS,
        mlp_dim=self.MLP_DIM, activation=self.ACTIVATION, post_norm=self.POST_NORM)

  def load_splits(self, data_dir):
    splits, self.data_location = input_pipeline.load_splits(
        data_dir, self.NUM_EVAL_TRAIN, self.NUM_VALIDATION, self.NUM_TEST)
    return splits

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    del aux_dropout_rate
    self._dropout_rate = dropout_rate or 0.0
    params = self._init_variables({'params': rng},
                                  jnp.zeros((1, *self.input_shape), jnp.int32))['params']
    self.set_param_shapes_and_types(params, models.infer_param_types(params))
    return jax_sharding_utils.replicate(params), None

  def model_fn(self, params, augmented_and_preprocessed_input_batch, model_state, mode, rng,
               update_batch_norm, dropout_rate=None):
    """Dropout acts in TRAIN mode only, with `rng`; there is no model state."""
    del update_batch_norm
    rate = self._dropout_rate if dropout_rate is None else dropout_rate
    train = mode == spec.ForwardPassMode.TRAIN and bool(rate)
    if train and rng is None:
      raise ValueError(f'model_fn needs an rng for dropout (dropout_rate={rate}).')
    logits = self._model.apply(
        {'params': params}, augmented_and_preprocessed_input_batch['inputs'], train=train,
        dropout_rate=rate, rngs={'dropout': rng} if train else None)
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
    """Per-token cross-entropy; `mask_batch` may be per window (batch,) or per token."""
    return softmax_cross_entropy(label_batch, logits_batch, self.num_classes,
                                 token_mask(mask_batch, logits_batch.shape[:-1]),
                                 label_smoothing)

  def _metrics_from_outputs(self, logits, batch):
    loss = self.loss_fn(batch['targets'], logits, batch['weights'])
    return {'loss': loss['summed'], 'bits_per_char': loss['summed'] / math.log(2),
            'count': loss['n_valid_examples']}


@from_suite('char_lm_postnorm')
class CharLmPostNormWorkload(CharLmWorkload):
  """Variant: LayerNorm after each residual sum (the original Transformer's placement)."""

  POST_NORM = True
