"""Fashion-MNIST's CNN: DeepOBS's 2c2d (two conv + max-pool blocks, two dense layers),
scaled down from 32/64 channels, 5x5 kernels and a 1024-unit dense layer so that a CPU
trains it to a useful accuracy within its budget of a minute.
"""

from workloads.common.models import ConvNet

CONV_FEATURES = (8, 16)
KERNEL_SIZE = (3, 3)
POOL_SIZE = (2, 2)
DENSE_SIZES = (64,)


def make_model(activation: str = 'relu') -> ConvNet:
  return ConvNet(conv_features=CONV_FEATURES, kernel_size=KERNEL_SIZE, pool_size=POOL_SIZE,
                 dense_sizes=DENSE_SIZES, num_classes=10, activation=activation)
