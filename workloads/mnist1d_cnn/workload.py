"""MNIST-1D with a small 1-D CNN: the `mnist1d` data and splits, a convolutional model.

Architecture (`models.py`, the shared `ConvNet`): Conv(32, kernel 5) → ReLU → max-pool 2 →
Conv(32, kernel 5) → ReLU → max-pool 2 → Dense 128 → ReLU → Dense 10, 'SAME' padding
(40 → 20 → 10 samples); 47,722 parameters. The signal (N, 40) gets a channel axis in the
model. Variant `mnist1d_cnn_batchnorm`: BatchNorm after each conv (the convs drop their
bias; 47,786 parameters), so `model_state` holds batch statistics.
"""

from __future__ import annotations

from workloads.common.classification import ClassificationWorkload
from workloads.common.suite_constants import from_suite
from workloads.mnist1d import input_pipeline
from workloads.mnist1d_cnn import models


@from_suite('mnist1d_cnn')
class Mnist1dCnnWorkload(ClassificationWorkload):
  """Data: `workloads.mnist1d.input_pipeline` (generated, cached under data_dir/mnist1d/)."""

  batch_norm = False
  input_shape = (input_pipeline.SEQUENCE_LENGTH,)

  DEFAULT_BATCH_SIZE = 128

  # The same splits as `mnist1d`.
  NUM_TRAIN = 28_000
  NUM_EVAL_TRAIN = 10_000
  NUM_VALIDATION = input_pipeline.NUM_VALIDATION
  NUM_TEST = 8_000
  EVAL_BATCH_SIZE = 4_000
  TRAIN_MEAN = 0.0009
  TRAIN_STDDEV = 0.9990

  def build_model(self):
    return models.make_model(self.batch_norm)

  def load_splits(self, data_dir):
    return input_pipeline.load_splits(data_dir, self.train_mean, self.train_stddev)


@from_suite('mnist1d_cnn_batchnorm')
class Mnist1dCnnBatchNormWorkload(Mnist1dCnnWorkload):
  """Variant: BatchNorm after each conv (exercises `model_state`; its own target)."""

  batch_norm = True
