"""Loss and target metric at many parameter points, evaluated together.

Evaluating 61 points of a curve or a 21×21 plane is the cost of a landscape. Each point is
θ = Σ_a w_a θ_a over a few trained (anchor) points (`geometry`), so the evaluated program
takes a chunk of weight rows, forms its points inside and runs the workload's own per-batch
metrics (`_batch_metrics`: summed loss and target metric of one masked eval batch) on all
of them at once under `jax.vmap`: one XLA call per chunk and batch instead of one per point
and batch, and the matrix products of all points of a chunk batched together. The chunk is
as large as the memory budget allows (`memory`). `strategy='map'` runs the chunk's points
one after another inside one XLA call (`lax.map`), and `'loop'` is the plain per-point
loop of jitted calls (the workload's jitted eval step) that the others are measured and
tested against (benchmarks/landscape_speed.py).

Model state: none; or recomputed batch-norm statistics at every point (`batchnorm`); or,
when recomputing is switched off, the anchors' states combined with the same weights.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from algoperf.data import in_memory
from algoperf.landscape import LandscapeError, batchnorm, memory

STRATEGIES = ('vmap', 'map', 'loop')
SPLITS = {'train': 'eval_train', 'validation': 'validation'}
STATE_NONE, STATE_COMBINED, STATE_RECOMPUTED = 'none', 'combined', 'recomputed'
# XLA:CPU in jaxlib 0.10.2 miscompiles a vmapped product followed by a reduction when its
# YNNPACK fusions are on (jax-ml/jax#39103): here the vmapped eval of more than 32 points
# returned the first points' sums for the later ones. Those fusions are switched off for
# the batched evaluation's executables only (the option is per compilation).
_CPU_WORKAROUND = {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_DOT'}


@functools.cache
def compiler_options() -> dict[str, str] | None:
  """The workaround above where this backend knows the option (XLA:CPU), else None."""
  if jax.default_backend() != 'cpu':
    return None
  try:
    jax.jit(lambda x: x + 1, compiler_options=_CPU_WORKAROUND)(jnp.zeros(2)).block_until_ready()
  except Exception:  # noqa: BLE001 - an older jaxlib without the option (or the keyword)
    return None
  return _CPU_WORKAROUND


@dataclasses.dataclass(frozen=True)
class EvalSettings:
  """What is evaluated at each point, on which examples, in what chunks."""
  eval_batch_size: int = 1000
  # None: as many as the workload evaluates (its num_eval_train / num_validation examples).
  num_train_examples: int | None = None        # the first N of the eval_train split
  num_validation_examples: int | None = None   # the first N of the validation split
  recompute_bn: bool = True
  bn_batches: int = 8
  bn_batch_size: int | None = None             # None: the workload's default batch size
  memory_budget_mb: float | None = None        # None: half the free memory
  max_points_per_chunk: int = 64
  strategy: str = 'vmap'
  data_dir: str = ''
  bn_seed: int = 0

  def __post_init__(self):
    if self.strategy not in STRATEGIES:
      raise LandscapeError(f'unknown evaluation strategy {self.strategy!r}; one of '
                           f'{", ".join(STRATEGIES)}')
    for name in ('eval_batch_size', 'bn_batches', 'max_points_per_chunk'):
      if getattr(self, name) < 1:
        raise LandscapeError(f'--{name} must be >= 1, got {getattr(self, name)}')
    for name in ('num_train_examples', 'num_validation_examples', 'bn_batch_size'):
      value = getattr(self, name)
      if value is not None and value < 1:
        raise LandscapeError(f'--{name} must be >= 1, got {value}')


@dataclasses.dataclass
class EvalData:
  """Device batches: the evaluated examples of each split, and the batch-norm batches."""
  batches: dict[str, list[dict[str, jax.Array]]]
  num_examples: dict[str, int]
  bn_batches: list[dict[str, jax.Array]]


def prepare_data(workload, settings: EvalSettings, need_bn: bool) -> EvalData:
  """The first N examples of eval_train and validation, in masked eval batches; K fixed
  training batches (a seeded draw) when batch-norm statistics are recomputed."""
  splits = workload.splits(settings.data_dir)
  wanted = {'train': settings.num_train_examples or workload.num_eval_train_examples,
            'validation': settings.num_validation_examples
            or workload.num_validation_examples}
  batches, counts = {}, {}
  for name, split in SPLITS.items():
    arrays = splits[split]
    total = len(arrays['targets'])
    count = total if wanted[name] is None else min(wanted[name], total)
    batch_size = min(settings.eval_batch_size, count)
    batches[name] = list(in_memory.eval_batches(arrays, batch_size, count))
    counts[name] = count
  bn = []
  if need_bn:
    bn_batch_size = settings.bn_batch_size or workload.default_batch_size
    train = splits['train']
    total = len(train['targets'])
    order = np.random.default_rng(settings.bn_seed).permutation(total)
    if settings.bn_batches * bn_batch_size > total:
      raise LandscapeError(f'--bn_batches × --bn_batch_size = '
                           f'{settings.bn_batches * bn_batch_size} exceeds the {total} '
                           'training examples')
    for k in range(settings.bn_batches):
      index = order[k * bn_batch_size:(k + 1) * bn_batch_size]
      bn.append(jax.device_put({key: v[index] for key, v in train.items()}))
  return EvalData(batches, counts, bn)


def _combine(w, stacked):
  """Σ_a w_a θ_a for every leaf of a stacked pytree (leading axis: anchors)."""
  return jax.tree.map(lambda s: jnp.tensordot(w.astype(s.dtype), s, axes=1), stacked)


def _jit(fn):
  options = compiler_options()
  return jax.jit(fn, compiler_options=options) if options else jax.jit(fn)


def _stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *trees)


class Evaluator:
  """Evaluates points given as weight rows over fixed anchors; reusable across calls.

  `anchors` are (params, model_state) pairs; every point's weights sum to 1.
  """

  def __init__(self, workload, anchors: Sequence[tuple[Any, Any]], settings: EvalSettings,
               data: EvalData | None = None):
    self.workload = workload
    self.settings = settings
    self.num_anchors = len(anchors)
    self.stacked_params = _stack([p for p, _ in anchors])
    state0 = anchors[0][1]
    if not batchnorm.has_state(state0):
      self.state_mode = STATE_NONE
    elif settings.recompute_bn:
      self.state_mode = STATE_RECOMPUTED
    else:
      self.state_mode = STATE_COMBINED
    self.data = data or prepare_data(workload, settings,
                                     self.state_mode == STATE_RECOMPUTED)
    self.plain_state = state0 if self.state_mode == STATE_NONE else None
    self.stacked_states = (_stack([s for _, s in anchors])
                           if self.state_mode == STATE_COMBINED else None)
    if self.state_mode == STATE_RECOMPUTED:
      first = jax.tree.map(lambda s: s[0], self.stacked_params)
      self.momenta = batchnorm.momenta(workload, first, state0, self.data.bn_batches[0])
      self.zero_state = batchnorm.zero_state(state0)
    self._compiled: dict[tuple, Callable] = {}
    self.chunk_size = self._chunk_size()
    self.last_seconds = 0.0

  # --- one point, traced (vmapped or mapped by the strategies) -----------------------

  def _point_state(self, w, state_arg):
    if self.state_mode == STATE_COMBINED:
      return _combine(w, state_arg)
    return state_arg

  def _point_metrics(self, w, stacked_params, state_arg, batch):
    params = _combine(w, stacked_params)
    return self.workload._batch_metrics(params, self._point_state(w, state_arg), batch)

  def _point_bn(self, w, stacked_params, zero_state, batch):
    """(1 − m) × this batch's statistics at the point (`batchnorm`)."""
    return batchnorm.train_mode_state(self.workload, _combine(w, stacked_params),
                                      zero_state, batch)

  def _state_arg(self):
    return {STATE_NONE: self.plain_state, STATE_COMBINED: self.stacked_states}.get(
        self.state_mode)

  # --- memory -------------------------------------------------------------------------

  def _chunk_size(self) -> int:
    settings = self.settings
    budget = memory.budget_bytes(settings.memory_budget_mb)
    w = jnp.full((self.num_anchors,), 1.0 / self.num_anchors, jnp.float32)
    batch = self.data.batches['train'][0]
    state = (self.zero_state if self.state_mode == STATE_RECOMPUTED else self._state_arg())
    per_point = memory.traced_bytes(self._point_metrics, w, self.stacked_params, state, batch)
    if self.state_mode == STATE_RECOMPUTED:
      per_point = max(per_point, memory.traced_bytes(
          self._point_bn, w, self.stacked_params, self.zero_state, self.data.bn_batches[0]))
    fixed = (memory.tree_bytes(self.stacked_params) + memory.tree_bytes(self.stacked_states)
             + sum(memory.tree_bytes(b) for bs in self.data.batches.values() for b in bs)
             + sum(memory.tree_bytes(b) for b in self.data.bn_batches))
    self.per_point_bytes, self.fixed_bytes, self.budget = per_point, fixed, budget
    if settings.strategy == 'vmap':
      return memory.points_per_chunk(per_point, fixed, budget, settings.max_points_per_chunk)
    # loop and map hold one point's activations at a time.
    memory.points_per_chunk(per_point, fixed, budget, 1)
    return 1 if settings.strategy == 'loop' else settings.max_points_per_chunk

  def check_points(self, num_points: int, hint: str) -> None:
    # Per point: its weights and, per split, its metric sums (float64 on the host).
    memory.check_points(num_points, 8 * (self.num_anchors + 16), self.budget, hint)

  # --- compiled chunk functions --------------------------------------------------------

  def _metrics_fn(self):
    key = ('metrics', self.settings.strategy)
    if key not in self._compiled:
      state_axis = 0 if self.state_mode == STATE_RECOMPUTED else None
      if self.settings.strategy == 'map':
        def fn(ws, stacked, state, batch):
          def one(args):
            w, s = args if state_axis == 0 else (args, state)
            return self._point_metrics(w, stacked, s, batch)
          return jax.lax.map(one, (ws, state) if state_axis == 0 else ws)
        self._compiled[key] = _jit(fn)
      else:
        self._compiled[key] = _jit(jax.vmap(self._point_metrics,
                                            in_axes=(0, None, state_axis, None)))
    return self._compiled[key]

  def _bn_fn(self):
    key = ('bn', self.settings.strategy)
    if key not in self._compiled:
      if self.settings.strategy == 'map':
        def fn(ws, stacked, zero, batch):
          return jax.lax.map(lambda w: self._point_bn(w, stacked, zero, batch), ws)
        self._compiled[key] = _jit(fn)
      else:
        self._compiled[key] = _jit(jax.vmap(self._point_bn, in_axes=(0, None, None, None)))
    return self._compiled[key]

  def _recomputed_states(self, ws):
    """Per point of the chunk: the mean over the batch-norm batches of each batch's
    statistics (`batchnorm`)."""
    fn = self._bn_fn()
    total = None
    for batch in self.data.bn_batches:
      part = fn(ws, self.stacked_params, self.zero_state, batch)
      total = part if total is None else jax.tree.map(jnp.add, total, part)
    return _mean_statistics(total, len(self.data.bn_batches), self.momenta)

  # --- evaluation ----------------------------------------------------------------------

  def evaluate(self, weights: np.ndarray,
               progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """{'train/loss', 'train/<metric>', 'validation/...'}: (num_points,) float64 means."""
    weights = np.asarray(weights, np.float64)
    if weights.ndim != 2 or weights.shape[1] != self.num_anchors:
      raise ValueError(f'weights must be (points, {self.num_anchors}), got {weights.shape}')
    self.check_points(len(weights), 'use fewer points')
    start = time.perf_counter()
    if self.settings.strategy == 'loop':
      result = self._evaluate_loop(weights, progress)
    else:
      result = self._evaluate_batched(weights, progress)
    self.last_seconds = time.perf_counter() - start
    return result

  def _evaluate_batched(self, weights, progress):
    num_points, chunk = len(weights), min(self.chunk_size, len(weights))
    sums: dict[str, dict[str, np.ndarray]] = {s: {} for s in SPLITS}
    metrics_fn = self._metrics_fn()
    for start in range(0, num_points, chunk):
      rows = weights[start:start + chunk]
      real = len(rows)
      if real < chunk:  # Pad with the last row: one compiled shape for every chunk.
        rows = np.concatenate([rows, np.repeat(rows[-1:], chunk - real, axis=0)])
      ws = jnp.asarray(rows, jnp.float32)
      state = (self._recomputed_states(ws) if self.state_mode == STATE_RECOMPUTED
               else self._state_arg())
      for split, batches in self.data.batches.items():
        for batch in batches:
          out = jax.device_get(metrics_fn(ws, self.stacked_params, state, batch))
          for name, value in out.items():
            acc = sums[split].setdefault(name, np.zeros(num_points))
            acc[start:start + real] += np.asarray(value, np.float64)[:real]
      if progress is not None:
        progress(min(start + chunk, num_points), num_points)
    return _means(sums)

  def _evaluate_loop(self, weights, progress):
    """The baseline: for each point, its params (one jitted call), then the workload's
    own jitted eval step on each batch; batch-norm statistics likewise one point at a time."""
    combine = self._compiled.setdefault(('combine',), jax.jit(_combine))
    bn_step = self._compiled.setdefault(('bn_loop',), jax.jit(
        lambda params, zero, batch: batchnorm.train_mode_state(self.workload, params, zero,
                                                               batch)))
    eval_step = self.workload._eval_step
    sums: dict[str, dict[str, np.ndarray]] = {s: {} for s in SPLITS}
    for i, row in enumerate(weights):
      w = jnp.asarray(row, jnp.float32)
      params = combine(w, self.stacked_params)
      if self.state_mode == STATE_RECOMPUTED:
        total = None
        for batch in self.data.bn_batches:
          part = bn_step(params, self.zero_state, batch)
          total = part if total is None else jax.tree.map(jnp.add, total, part)
        state = _mean_statistics(total, len(self.data.bn_batches), self.momenta)
      elif self.state_mode == STATE_COMBINED:
        state = combine(w, self.stacked_states)
      else:
        state = self.plain_state
      for split, batches in self.data.batches.items():
        for batch in batches:
          out = jax.device_get(eval_step(params, state, batch))
          for name, value in out.items():
            sums[split].setdefault(name, np.zeros(len(weights)))[i] += float(value)
      if progress is not None:
        progress(i + 1, len(weights))
    return _means(sums)

  def describe(self) -> dict[str, Any]:
    """What was evaluated, for the JSON summary."""
    settings = self.settings
    info = {
        'strategy': settings.strategy, 'points_per_chunk': self.chunk_size,
        'examples': dict(self.data.num_examples),
        'splits': {'train': 'the first examples of eval_train (training examples, as the '
                            'workload evaluates them)', 'validation': 'validation'},
        'model_state': self.state_mode,
        'batch_norm_recomputed': self.state_mode == STATE_RECOMPUTED,
        'memory_budget_mb': round(self.budget / memory.MB, 1),
        'estimated_bytes_per_point': self.per_point_bytes,
    }
    if self.state_mode == STATE_RECOMPUTED:
      batch_size = int(jax.tree.leaves(self.data.bn_batches[0])[0].shape[0])
      info['batch_norm'] = batchnorm.DESCRIPTION.format(
          batches=len(self.data.bn_batches), batch_size=batch_size)
      info['batch_norm_momentum'] = [float(m) for m in jax.tree.leaves(self.momenta)]
    elif self.state_mode == STATE_COMBINED:
      info['batch_norm'] = ('batch-norm statistics NOT recomputed (--norecompute_bn): each '
                            'point used the trained points\' running averages combined with '
                            'the point\'s weights')
    return info


def _mean_statistics(total, count: int, momenta):
  """Σ_k (1 − m)·s_k over `count` batches → the mean statistic (`batchnorm`)."""
  return jax.tree.map(lambda s, m: s / (count * (1.0 - m)), total, momenta)


def _means(sums: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  out = {}
  for split, values in sums.items():
    count = values.pop('count')
    for name, total in values.items():
      out[f'{split}/{name}'] = total / count
  return out
