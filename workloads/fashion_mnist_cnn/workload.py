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

from workloads.common.suite_constants import from_suite
from workloads.fashion_mnist.workload import FashionMnistWorkload
from workloads.fashion_mnist_cnn import models


@from_suite('fashion_mnist_cnn')
class FashionMnistCnnWorkload(FashionMnistWorkload):
  """The `fashion_mnist` data, splits and sizes; a CNN instead of the MLP."""

  def build_model(self):
    return models.make_model(self.activation)


@from_suite('fashion_mnist_cnn_tanh')
class FashionMnistCnnTanhWorkload(FashionMnistCnnWorkload):
  """Variant: tanh instead of ReLU activations (its own target)."""

  activation = 'tanh'
