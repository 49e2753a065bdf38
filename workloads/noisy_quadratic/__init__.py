"""The noisy quadratic workload (DeepOBS's quadratic_deep) and its ill-conditioned variant."""
