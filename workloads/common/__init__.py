"""Pieces every classification workload shares: the base class, MLP, parameter types."""
