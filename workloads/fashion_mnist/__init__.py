"""Fashion-MNIST workload and its variants."""
