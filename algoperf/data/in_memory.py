"""Input pipelines for datasets that fit in host memory (every offline workload here).

The train iterator is a Grain `MapDataset` over example indices, so its position is a
small JSON-able state (`get_state`/`set_state`) that checkpoints restore exactly (DESIGN
rule 8). Batches leave the iterator already placed on devices, split along the batch axis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import grain
import jax
import numpy as np

from algoperf import jax_sharding_utils


def seed_from_rng(data_rng) -> int:
  """A 31-bit integer seed from a JAX key (raw uint32[2] or typed), for host-side shuffles."""
  if jax.dtypes.issubdtype(getattr(data_rng, 'dtype', None), jax.dtypes.prng_key):
    data_rng = jax.random.key_data(data_rng)
  words = np.asarray(data_rng, dtype=np.uint32).ravel()
  return int(np.bitwise_xor.reduce(words) & 0x7FFFFFFF)


Batch = dict[str, np.ndarray]
Augment = Callable[[Batch, np.random.Generator], Batch]


class TrainBatches(Iterator):
  """Infinite, shuffled, device-placed train batches with a restorable position.

  `augment(batch, rng)` optionally transforms each host batch (e.g. random crops); Grain
  seeds its generator from `seed` and the batch's index, so a restored iterator
  reproduces the same augmented batches.
  """

  def __init__(self, arrays: Mapping[str, np.ndarray], global_batch_size: int, seed: int,
               augment: Augment | None = None):
    num_examples = len(next(iter(arrays.values())))
    if global_batch_size > num_examples:
      raise ValueError(
          f'Batch size {global_batch_size} exceeds the {num_examples} training examples.')
    self._arrays = dict(arrays)
    dataset = (
        grain.MapDataset.range(num_examples)
        .shuffle(seed=seed)
        .repeat()
        .batch(global_batch_size, drop_remainder=True)
        .map(self._gather))
    if augment is not None:
      dataset = dataset.random_map(augment, seed=seed)
    self._iterator = iter(dataset)
    self._sharding = jax_sharding_utils.get_batch_dim_sharding()

  def _gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[indices] for k, v in self._arrays.items()}

  def __next__(self) -> dict[str, jax.Array]:
    return jax.device_put(next(self._iterator), self._sharding)

  def get_state(self) -> dict:
    return self._iterator.get_state()

  def set_state(self, state: dict) -> None:
    self._iterator.set_state(state)


def eval_batches(arrays: Mapping[str, np.ndarray], global_batch_size: int,
                 num_examples: int | None = None) -> Iterator[dict[str, jax.Array]]:
  """One pass over the first `num_examples` examples in fixed-shape, masked batches.

  The last batch is padded to full size with `weights` 0, so one compiled eval step
  serves every batch.
  """
  total = len(next(iter(arrays.values())))
  num_examples = total if num_examples is None else min(num_examples, total)
  sharding = jax_sharding_utils.get_batch_dim_sharding()
  for start in range(0, num_examples, global_batch_size):
    stop = min(start + global_batch_size, num_examples)
    pad = global_batch_size - (stop - start)
    batch = {k: _pad(v[start:stop], pad) for k, v in arrays.items()}
    weights = np.ones(global_batch_size, dtype=np.float32)
    if pad:
      weights[-pad:] = 0.0
    batch['weights'] = weights
    yield jax.device_put(batch, sharding)


def _pad(values: np.ndarray, pad: int) -> np.ndarray:
  if not pad:
    return values
  return np.concatenate([values, np.zeros((pad, *values.shape[1:]), values.dtype)])
