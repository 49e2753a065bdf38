"""MNIST-1D workload and its variants."""
