"""The shared train iterator: epochs are permutations, resume replays augmentation,
prefetching keeps the order and the resumable position."""

import threading

import numpy as np

from algoperf.data import in_memory


def _targets(batches, n):
  return np.concatenate([np.asarray(next(batches)['targets']) for _ in range(n)])


def test_each_epoch_is_a_new_permutation_without_background_threads():
  threads = threading.active_count()
  arrays = {'inputs': np.zeros((100, 2), np.float32), 'targets': np.arange(100)}
  batches = in_memory.TrainBatches(arrays, 32, seed=1)  # 3 batches/epoch, 4 dropped.
  first, second = _targets(batches, 3), _targets(batches, 3)
  assert len(set(first)) == 96 and len(set(second)) == 96
  assert not np.array_equal(first, second)
  assert threading.active_count() == threads


def test_resume_replays_augmented_batches():
  def augment(batch, rng):
    return {**batch, 'inputs': batch['inputs'] + rng.normal(size=batch['inputs'].shape)}

  arrays = {'inputs': np.zeros((64, 3), np.float32), 'targets': np.arange(64)}
  batches = in_memory.TrainBatches(arrays, 16, seed=4, augment=augment)
  next(batches)
  state = batches.get_state()
  expected = np.asarray(next(batches)['inputs'])
  resumed = in_memory.TrainBatches(arrays, 16, seed=4, augment=augment)
  resumed.set_state(state)
  np.testing.assert_array_equal(np.asarray(next(resumed)['inputs']), expected)
  assert np.abs(expected).sum() > 0


def test_prefetch_changes_nothing_but_when_the_batch_is_made():
  arrays = {'inputs': np.arange(200, dtype=np.float32).reshape(100, 2),
            'targets': np.arange(100)}
  plain = in_memory.TrainBatches(arrays, 10, seed=2)
  ahead = in_memory.TrainBatches(arrays, 10, seed=2)
  expected = _targets(plain, 25)  # Crosses two epoch boundaries.
  got = []
  for _ in range(25):
    ahead.prefetch()
    ahead.prefetch()  # A second call before next() must not skip a batch.
    got.append(np.asarray(next(ahead)['targets']))
  np.testing.assert_array_equal(np.concatenate(got), expected)

  # The position of a prefetching iterator is before the prefetched batch, so a
  # checkpoint taken then resumes at that batch.
  ahead.prefetch()
  state = ahead.get_state()
  upcoming = np.asarray(next(ahead)['targets'])
  resumed = in_memory.TrainBatches(arrays, 10, seed=2)
  resumed.set_state(state)
  np.testing.assert_array_equal(np.asarray(next(resumed)['targets']), upcoming)
  # set_state drops a prefetched batch.
  ahead.prefetch()
  ahead.set_state(state)
  np.testing.assert_array_equal(np.asarray(next(ahead)['targets']), upcoming)
