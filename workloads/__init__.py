"""Workloads: a model, dataset, loss, target and budget each (see `workloads.registry`)."""
