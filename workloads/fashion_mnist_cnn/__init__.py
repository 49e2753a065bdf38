"""Fashion-MNIST with a DeepOBS 2c2d-style CNN, and its variants."""
