"""A submission split over a package, as AlgoPerf loads them: relative imports, subpackages."""
