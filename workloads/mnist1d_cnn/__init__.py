"""MNIST-1D with a 1-D CNN, and its variants."""
