"""AlgoPerf's CIFAR-10 development workload (ResNet-18)."""
