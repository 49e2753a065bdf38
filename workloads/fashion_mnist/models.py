"""Fashion-MNIST's model: the shared MLP over the flattened 28x28 image."""

from workloads.common.models import MLP

HIDDEN_SIZES = (256, 128)


def make_model(activation: str = 'relu') -> MLP:
  return MLP(hidden_sizes=HIDDEN_SIZES, num_classes=10, activation=activation)
