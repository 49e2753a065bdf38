"""MNIST-1D's model: the shared MLP over the 40-sample signal."""

from workloads.common.models import MLP

HIDDEN_SIZES = (256, 256)


def make_model(activation: str = 'relu') -> MLP:
  return MLP(hidden_sizes=HIDDEN_SIZES, num_classes=10, activation=activation)
