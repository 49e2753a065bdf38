"""AlgoPerf v0.5's `algorithmic_efficiency.random_utils`, JAX side: PRNG keys as raw
uint32[2] arrays, as v0.5's JAX runner made them."""

import jax


def _unsigned(seed: int) -> int:
  # v0.5 mapped negative (signed 32-bit) seeds onto the unsigned range.
  return int(seed) % 2**32


def PRNGKey(seed: int):  # noqa: N802 -- v0.5's name
  return jax.random.PRNGKey(_unsigned(seed))


def split(rng, num: int = 2):
  return jax.random.split(rng, num)


def fold_in(rng, data: int):
  return jax.random.fold_in(rng, _unsigned(data))
