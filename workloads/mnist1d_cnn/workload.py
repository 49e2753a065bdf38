"""MNIST-1D with a small 1-D CNN: the `mnist1d` data and splits, a convolutional model.

Architecture (`models.py`, the shared `ConvNet`): Conv(32, kernel 5) → ReLU → max-pool 2 →
Conv(32, kernel 5) → ReLU → max-pool 2 → Dense 128 → ReLU → Dense 10, 'SAME' padding
(40 → 20 → 10 samples); 47,722 parameters. The signal (N, 40) gets a channel axis in the
model. Variant `mnist1d_cnn_batchnorm`: BatchNorm after each conv (the convs drop their
bias; 47,786 parameters), so `model_state` holds batch statistics.
"""

from __future__ import annotations

from workloads.common.suite_constants import from_suite
from workloads.mnist1d.workload import Mnist1dWorkload
from workloads.mnist1d_cnn import models


@from_suite('mnist1d_cnn')
class Mnist1dCnnWorkload(Mnist1dWorkload):
  """The `mnist1d` data, splits and sizes; a 1-D CNN instead of the MLP."""

  batch_norm = False

  def build_model(self):
    return models.make_model(self.batch_norm)


@from_suite('mnist1d_cnn_batchnorm')
class Mnist1dCnnBatchNormWorkload(Mnist1dCnnWorkload):
  """Variant: BatchNorm after each conv (exercises `model_state`; its own target)."""

  batch_norm = True
