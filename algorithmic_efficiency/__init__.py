"""AlgoPerf v0.5's package name, for submissions written against it (legacy pmap mode).

AlgoPerf v0.5 was the package `algorithmic_efficiency`; v0.6 renamed it `algoperf`. A v0.5
submission's `from algorithmic_efficiency import spec` (or `import
algorithmic_efficiency.spec`) gets this project's `algoperf.spec` itself, so its enums,
`ShapeTuple` and `TrainingCompleteError` are the runner's own. Modules provided:

* `spec`: `algoperf.spec`;
* `random_utils`: v0.5's `PRNGKey`, `split` and `fold_in` (JAX keys).

Any other v0.5 module (`pytorch_utils`, `workloads`, ...) is not provided: importing it
fails with ModuleNotFoundError naming it. Importing this package also puts back the
top-level `jax.tree_map` & co. that JAX 0.6 removed and pmap-era code still calls
(`algoperf.legacy_pmap.restore_removed_jax_aliases`). docs/legacy_submissions.md.
"""

from algoperf import legacy_pmap as _legacy_pmap

_legacy_pmap.restore_removed_jax_aliases()
