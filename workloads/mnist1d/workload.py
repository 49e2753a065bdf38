"""MNIST-1D: classify 40-sample 1-D signals of the ten digits with an MLP (offline)."""

from __future__ import annotations

from workloads.common.classification import ClassificationWorkload
from workloads.common.suite_constants import from_suite
from workloads.mnist1d import input_pipeline, models


@from_suite('mnist1d')
class Mnist1dWorkload(ClassificationWorkload):
  """Data: `input_pipeline` (generated; cached under data_dir/mnist1d/ or the user cache)."""

  activation = 'relu'
  input_shape = (input_pipeline.SEQUENCE_LENGTH,)

  DEFAULT_BATCH_SIZE = 128

  NUM_TRAIN = 28_000
  NUM_EVAL_TRAIN = 10_000
  NUM_VALIDATION = input_pipeline.NUM_VALIDATION
  NUM_TEST = 8_000
  EVAL_BATCH_SIZE = 4_000

  # Statistics of the 28k training signals (checked by a test).
  TRAIN_MEAN = 0.0009
  TRAIN_STDDEV = 0.9990

  def build_model(self):
    return models.make_model(self.activation)

  def load_splits(self, data_dir):
    splits, self.data_location = input_pipeline.load_splits(data_dir, self.train_mean,
                                                            self.train_stddev)
    return splits


@from_suite('mnist1d_gelu')
class Mnist1dGeluWorkload(Mnist1dWorkload):
  """Variant: GELU instead of ReLU activations (its own target)."""

  activation = 'gelu'
