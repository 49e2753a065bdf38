"""Fashion-MNIST with DeepOBS's 2c2d CNN, scaled down for a CPU.

Architecture (`models.py`, the shared `ConvNet`): Conv(8, 3x3) → ReLU → max-pool 2x2 →
Conv(16, 3x3) → ReLU → max-pool 2x2 → Dense 64 → ReLU → Dense 10, 'SAME' padding
(28 → 14 → 7); 52,138 parameters. DeepOBS's 2c2d (32/64 channels, 5x5, a 1024-unit dense
layer: 3.3M parameters) is far too slow per step for a one-minute CPU budget; on XLA:CPU
the first conv (one input channel at 28x28) dominates the step, and 3x3 kernels trained
faster per second of budget than 5x5 in the pilot (validation 0.903 vs 0.895 at 30 s).
Inputs are the `fashion_mnist` pipeline's standardised NHWC (N, 28, 28, 1) images.
Variant `fashion_mnist_cnn_tanh`: tanh instead of ReLU.
"""

from __future__ import annotations

from workloads.common.classification import ClassificationWorkload
from workloads.common.suite_constants import from_suite
from workloads.fashion_mnist import input_pipeline
from workloads.fashion_mnist_cnn import models


@from_suite('fashion_mnist_cnn')
class FashionMnistCnnWorkload(ClassificationWorkload):
  """Data: `workloads.fashion_mnist.input_pipeline` (IDX files, --data_dir or Debian's)."""

  activation = 'relu'
  input_shape = (28, 28, 1)

  DEFAULT_BATCH_SIZE = 128

  # The same splits as `fashion_mnist`.
  NUM_TRAIN = 50_000
  NUM_EVAL_TRAIN = 10_000
  NUM_VALIDATION = input_pipeline.NUM_VALIDATION
  NUM_TEST = 10_000
  EVAL_BATCH_SIZE = 5_000
  TRAIN_MEAN = 0.2855
  TRAIN_STDDEV = 0.3528

  def build_model(self):
    return models.make_model(self.activation)

  def load_splits(self, data_dir):
    return input_pipeline.load_splits(data_dir, self.train_mean, self.train_stddev)


@from_suite('fashion_mnist_cnn_tanh')
class FashionMnistCnnTanhWorkload(FashionMnistCnnWorkload):
  """Variant: tanh instead of ReLU activations (its own target)."""

  activation = 'tanh'
