"""MNIST-1D's CNN: the shared ConvNet, 1-D, over the 40-sample signal."""

from workloads.common.models import ConvNet

CONV_FEATURES = (32, 32)
KERNEL_SIZE = (5,)
POOL_SIZE = (2,)
DENSE_SIZES = (128,)


def make_model(batch_norm: bool = False) -> ConvNet:
  return ConvNet(conv_features=CONV_FEATURES, kernel_size=KERNEL_SIZE, pool_size=POOL_SIZE,
                 dense_sizes=DENSE_SIZES, num_classes=10, batch_norm=batch_norm)
