"""AlgoPerf's MNIST model: 784 -> 128 sigmoid -> 10 (parameters `Dense_0`, `Dense_1`)."""

from workloads.common.models import MLP


def make_model() -> MLP:
  return MLP(hidden_sizes=(128,), num_classes=10, activation='sigmoid')
