"""A linear-regression workload small enough for runner tests: steps take microseconds.

Its knobs (targets, budget, eval period) are constructor arguments so tests can force each
stopping rule. The target metric is validation loss (lower is better).
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import jax_sharding_utils, spec
from algoperf.data import in_memory

NUM_FEATURES = 8


def _make_split(seed: int, n: int, true_w: np.ndarray) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, NUM_FEATURES)).astype(np.float32)
  y = x @ true_w + 0.1 * rng.normal(size=(n, 1)).astype(np.float32)
  return {'inputs': x, 'targets': y}


class ToyRegressionWorkload(spec.Workload):
  """y = x·w + noise; the model is one dense layer with an MSE loss."""

  def __init__(self, validation_target=0.02, test_target=0.02, budget_sec=30.0,
               eval_period_sec=1.0, step_hint=200, num_train=512, num_eval=128,
               slow_eval_sec=0.0):
    super().__init__()
    self._validation_target = validation_target
    self._test_target = test_target
    self._budget = budget_sec
    self._eval_period = eval_period_sec
    self._step_hint = step_hint
    self._slow_eval_sec = slow_eval_sec
    true_w = np.linspace(-1.0, 1.0, NUM_FEATURES, dtype=np.float32)[:, None]
    self._splits = {
        'train': _make_split(0, num_train, true_w),
        'eval_train': _make_split(0, num_train, true_w),
        'validation': _make_split(1, num_eval, true_w),
        'test': _make_split(2, num_eval, true_w),
    }

  target_metric_name = 'loss'
  target_metric_higher_is_better = False
  loss_type = spec.LossType.MEAN_SQUARED_ERROR
  eval_batch_size = 64
  default_batch_size = 32

  @property
  def validation_target_value(self):
    return self._validation_target

  @property
  def test_target_value(self):
    return self._test_target

  @property
  def max_allowed_runtime_sec(self):
    return self._budget

  @property
  def eval_period_time_sec(self):
    return self._eval_period

  @property
  def step_hint(self):
    return self._step_hint

  @property
  def num_train_examples(self):
    return len(self._splits['train']['inputs'])

  @property
  def num_eval_train_examples(self):
    return len(self._splits['eval_train']['inputs'])

  @property
  def num_validation_examples(self):
    return len(self._splits['validation']['inputs'])

  @property
  def num_test_examples(self):
    return len(self._splits['test']['inputs'])

  def is_output_params(self, param_key):
    return param_key == 'dense'

  def _build_input_queue(self, data_rng, split, data_dir, global_batch_size, cache=None,
                         repeat_final_dataset=None, num_batches=None):
    if split != 'train':
      return in_memory.eval_batches(self._splits[split], global_batch_size)
    return in_memory.TrainBatches(self._splits['train'], global_batch_size,
                                  seed=in_memory.seed_from_rng(data_rng))

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    params = {'dense': {
        'kernel': 0.01 * jax.random.normal(rng, (NUM_FEATURES, 1)),
        'bias': jnp.zeros((1,)),
    }}
    self.set_param_shapes_and_types(params, {'dense': {
        'kernel': spec.ParameterType.WEIGHT, 'bias': spec.ParameterType.BIAS}})
    return jax_sharding_utils.replicate(params), None

  def model_fn(self, params, augmented_and_preprocessed_input_batch, model_state, mode, rng,
               update_batch_norm, dropout_rate=None):
    x = augmented_and_preprocessed_input_batch['inputs']
    return x @ params['dense']['kernel'] + params['dense']['bias'], model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
    per_example = jnp.mean((logits_batch - label_batch) ** 2, axis=-1)
    if mask_batch is None:
      mask_batch = jnp.ones_like(per_example)
    per_example = per_example * mask_batch
    return {'summed': per_example.sum(), 'n_valid_examples': mask_batch.sum(),
            'per_example': per_example}

  @functools.partial(jax.jit, static_argnums=0)
  def _eval_batch(self, params, batch):
    logits, _ = self.model_fn(params, batch, None, spec.ForwardPassMode.EVAL, None, False)
    return self.loss_fn(batch['targets'], logits, batch['weights'])

  def _eval_model_on_split(self, split, num_examples, global_batch_size, params, model_state,
                           rng, data_dir, global_step=0):
    if self._slow_eval_sec:
      time.sleep(self._slow_eval_sec)
    summed, count = 0.0, 0.0
    for batch in in_memory.eval_batches(self._splits[split], global_batch_size, num_examples):
      out = self._eval_batch(params, batch)
      summed += float(out['summed'])
      count += float(out['n_valid_examples'])
    return {'loss': summed / count}
