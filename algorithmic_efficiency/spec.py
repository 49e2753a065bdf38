"""`algorithmic_efficiency.spec` (AlgoPerf v0.5's name) is `algoperf.spec`: the same module
object, so every class and enum a legacy submission uses is the runner's own."""

import sys

from algoperf import spec as _spec

sys.modules[__name__] = _spec
