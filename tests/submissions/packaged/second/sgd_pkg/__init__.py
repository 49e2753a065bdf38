"""A second package of the same name as first/sgd_pkg: loading one must not serve the
other's modules."""
