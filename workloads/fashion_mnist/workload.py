"""Fashion-MNIST: classify 28x28 clothing images with an MLP (offline, IDX files)."""

from __future__ import annotations

from workloads.common.classification import ClassificationWorkload
from workloads.common.suite_constants import from_suite
from workloads.fashion_mnist import input_pipeline, models


@from_suite('fashion_mnist')
class FashionMnistWorkload(ClassificationWorkload):
  """Data: `input_pipeline` (IDX files from --data_dir when given, else the Debian package)."""

  activation = 'relu'
  input_shape = (28, 28, 1)

  DEFAULT_BATCH_SIZE = 128

  NUM_TRAIN = 50_000
  NUM_EVAL_TRAIN = 10_000
  NUM_VALIDATION = input_pipeline.NUM_VALIDATION
  NUM_TEST = 10_000
  EVAL_BATCH_SIZE = 5_000

  # Pixel statistics of the 50k training images scaled to [0, 1] (checked by a test).
  TRAIN_MEAN = 0.2855
  TRAIN_STDDEV = 0.3528

  def build_model(self):
    return models.make_model(self.activation)

  def load_splits(self, data_dir):
    splits, self.data_location = input_pipeline.load_splits(data_dir, self.train_mean,
                                                            self.train_stddev)
    return splits


@from_suite('fashion_mnist_tanh')
class FashionMnistTanhWorkload(FashionMnistWorkload):
  """Variant: tanh instead of ReLU activations (its own target)."""

  activation = 'tanh'
