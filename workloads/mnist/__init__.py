"""AlgoPerf's MNIST development workload."""
