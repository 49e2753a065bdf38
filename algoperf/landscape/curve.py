"""Training the bends of a curve between two fixed trained points (Garipov et al., 2018).

The endpoints θ_0, θ_{k+1} stay fixed; the bends start on the segment (`geometry.
initial_bends`, so the curve starts as the segment) and are trained to minimise
E_{t~U(0,1)} L(φ_θ(t)): each step draws a fresh t, forms the point φ(t) (`geometry`'s
weights, in JAX), and takes one Optax step on the bends with the gradient of the
training loss there (mean cross-entropy or the workload's loss, no label smoothing) plus
an optional L2 penalty ½·wd·‖φ(t)‖² (the paper's weight decay of the curve point).
Batch-norm models run in training mode (batch statistics), as training does.

Resumable and deterministic: the batch of step s is a pure function of s (a seeded
permutation per epoch of the training split, no augmentation) and t and the dropout key
come from `fold_in(seed, s)`, so the checkpointed state is only (bends, optimizer state,
step, loss log). Orbax checkpoints go to `<output_dir>/curve_checkpoints/` every
`checkpoint_every` steps, at the end, and on Ctrl-C; the same command continues from the
last one and reaches the same arrays, bit for bit, as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import shutil
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import logs, spec
from algoperf.landscape import LandscapeError, geometry

CHECKPOINTS = 'curve_checkpoints'
CONFIG = 'curve_config.json'
OPTIMIZERS = ('adam', 'sgd')
SCHEDULES = ('cosine', 'constant')


@dataclasses.dataclass(frozen=True)
class CurveSettings:
  """The curve and how its bends are trained (recorded; a resume must not change it)."""
  curve: str = 'bezier'
  num_bends: int = 1
  steps: int = 3000
  batch_size: int | None = None      # None: the workload's default batch size
  optimizer: str = 'adam'
  learning_rate: float = 1e-3
  schedule: str = 'cosine'
  momentum: float = 0.9              # sgd only
  weight_decay: float = 0.0
  seed: int = 0
  checkpoint_every: int = 500
  log_every: int = 50

  def __post_init__(self):
    if self.curve not in geometry.CURVES:
      raise LandscapeError(f'--curve must be one of {", ".join(geometry.CURVES)}')
    if self.optimizer not in OPTIMIZERS:
      raise LandscapeError(f'--curve_optimizer must be one of {", ".join(OPTIMIZERS)}')
    if self.schedule not in SCHEDULES:
      raise LandscapeError(f'--curve_schedule must be one of {", ".join(SCHEDULES)}')
    for name in ('num_bends', 'steps', 'checkpoint_every', 'log_every'):
      if getattr(self, name) < 1:
        raise LandscapeError(f'--{name} must be >= 1, got {getattr(self, name)}')
    if self.batch_size is not None and self.batch_size < 1:
      raise LandscapeError(f'--curve_batch_size must be >= 1, got {self.batch_size}')
    if not self.learning_rate > 0 or self.weight_decay < 0:
      raise LandscapeError('--curve_learning_rate must be > 0 and --curve_weight_decay >= 0')

  def record(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


class CurveInterrupted(KeyboardInterrupt):
  """Ctrl-C during curve training, after the state at `step` was checkpointed."""

  def __init__(self, step: int, total: int, folder: str):
    super().__init__(folder)
    self.step, self.total, self.folder = step, total, folder

  def resume_hint(self) -> str:
    return (f'curve training interrupted at step {self.step} of {self.total} (checkpointed '
            f'in {self.folder})')


class TrainState(NamedTuple):
  """Everything a step changes; replaced as a whole, so Ctrl-C never sees half of it."""
  bends: Any
  opt_state: Any
  step: int
  loss_sum: Any                      # device scalar: sum of losses since the last log
  log: tuple                         # ((step, mean loss over the last log_every steps), ...)


def weights_jax(curve: str, num_bends: int, t):
  """`geometry.curve_weights` for one traced t (the same formulas, in JAX)."""
  n = num_bends + 1
  i = jnp.arange(n + 1)
  if curve == 'bezier':
    binomial = jnp.array([math.comb(n, k) for k in range(n + 1)], jnp.float32)
    return binomial * t ** i * (1.0 - t) ** (n - i)
  position = t * n
  left = jnp.minimum(jnp.floor(position), n - 1)
  fraction = position - left
  return (jnp.where(i == left, 1.0 - fraction, 0.0)
          + jnp.where(i == left + 1, fraction, 0.0))


def initial_bends(start, end, num_bends: int):
  """Bends equally spaced on the segment, stacked along a leading axis of size k."""
  s = geometry.initial_bends(num_bends)
  return jax.tree.map(
      lambda a, b: jnp.stack([jnp.asarray(wa * a + wb * b, jnp.float32) for wa, wb in s]),
      start, end)


def controls(start, bends, end):
  """(k + 2, ...) stacked control points θ_0, bends, θ_{k+1}."""
  return jax.tree.map(lambda a, m, b: jnp.concatenate([a[None], m, b[None]]),
                      start, bends, end)


def _optimizer(settings: CurveSettings):
  import optax
  if settings.schedule == 'cosine':
    rate = optax.cosine_decay_schedule(settings.learning_rate, settings.steps)
  else:
    rate = settings.learning_rate
  if settings.optimizer == 'sgd':
    return optax.sgd(rate, momentum=settings.momentum)
  return optax.adam(rate)


class _Batches:
  """Training batch of step s: a pure function of s (seeded permutation per epoch)."""

  def __init__(self, arrays, batch_size: int, seed: int):
    self.arrays = arrays
    self.num = len(arrays['targets'])
    if batch_size > self.num:
      raise LandscapeError(f'--curve_batch_size={batch_size} exceeds the {self.num} '
                           'training examples')
    self.batch_size = batch_size
    self.per_epoch = self.num // batch_size
    self.seed = seed
    self._order: tuple[int, np.ndarray] | None = None

  def __call__(self, step: int):
    epoch, k = divmod(step, self.per_epoch)
    if self._order is None or self._order[0] != epoch:
      self._order = (epoch, np.random.default_rng((self.seed, 7, epoch)).permutation(self.num))
    index = self._order[1][k * self.batch_size:(k + 1) * self.batch_size]
    return jax.device_put({key: value[index] for key, value in self.arrays.items()})


class CurveTrainer:
  """Trains (or resumes) one curve's bends in `folder`."""

  def __init__(self, workload, start, end, settings: CurveSettings, folder: str,
               identity: dict[str, Any], data_dir: str = ''):
    """`start`, `end`: (params, model_state) of the endpoints; `identity`: what else a
    resume must match (the endpoints' trials and steps, the workload)."""
    self.workload = workload
    self.settings = settings
    self.folder = folder
    self.start_params, self.end_params = start[0], end[0]
    self.model_state = start[1]
    self.identity = identity
    self.data_dir = data_dir
    self.optimizer = _optimizer(settings)

  # --- checkpoints --------------------------------------------------------------------

  def _manager(self):
    import orbax.checkpoint as ocp
    options = ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False)
    return ocp.CheckpointManager(os.path.abspath(os.path.join(self.folder, CHECKPOINTS)),
                                 options=options)

  def _record(self) -> dict[str, Any]:
    return {'curve': self.settings.record(), **self.identity}

  def check_resumable(self) -> None:
    """Refuse to continue a curve trained with other settings or between other points."""
    path = os.path.join(self.folder, CONFIG)
    if not os.path.exists(path):
      return
    recorded = logs.read_json(path)
    wanted = self._record()
    if recorded != wanted:
      diffs = _differences(recorded, wanted)
      raise LandscapeError(
          f'{self.folder} holds a curve trained with other settings or endpoints '
          f'({"; ".join(diffs[:4])}); pass --overwrite to train a new one there, or choose '
          'another --output_dir')

  def reset(self) -> None:
    shutil.rmtree(os.path.join(self.folder, CHECKPOINTS), ignore_errors=True)
    path = os.path.join(self.folder, CONFIG)
    if os.path.exists(path):
      os.remove(path)

  def _save(self, manager, state: TrainState) -> None:
    import orbax.checkpoint as ocp
    arrays = {'bends': state.bends, 'opt': jax.tree.leaves(state.opt_state)}
    meta = {'step': state.step, 'log': [list(x) for x in state.log],
            'loss_sum': float(state.loss_sum)}
    manager.save(state.step, args=ocp.args.Composite(
        arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)), force=True)
    manager.wait_until_finished()

  def _initial_state(self) -> TrainState:
    bends = initial_bends(self.start_params, self.end_params, self.settings.num_bends)
    return TrainState(bends, self.optimizer.init(bends), 0, jnp.zeros((), jnp.float32), ())

  def _restore(self, manager, fresh: TrainState) -> TrainState:
    import orbax.checkpoint as ocp
    step = manager.latest_step()
    leaves, treedef = jax.tree.flatten(fresh.opt_state)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                            {'bends': fresh.bends, 'opt': leaves})
    restored = manager.restore(step, args=ocp.args.Composite(
        arrays=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    arrays, meta = restored['arrays'], restored['meta']
    return TrainState(arrays['bends'], jax.tree.unflatten(treedef, arrays['opt']),
                      meta['step'], jnp.asarray(meta['loss_sum'], jnp.float32),
                      tuple(tuple(x) for x in meta['log']))

  def trained_steps(self) -> int | None:
    """The last checkpointed step, or None."""
    if not os.path.isdir(os.path.join(self.folder, CHECKPOINTS)):
      return None
    with self._manager() as manager:
      return manager.latest_step()

  # --- training -----------------------------------------------------------------------

  def train(self, progress: Callable[[int, int, float | None], None] | None = None
            ) -> TrainState:
    """Train to `settings.steps` from the last checkpoint (or the start); the final state.

    Ctrl-C checkpoints the last finished step and raises `CurveInterrupted`."""
    settings = self.settings
    self.check_resumable()
    os.makedirs(self.folder, exist_ok=True)
    logs.write_json(os.path.join(self.folder, CONFIG), self._record())
    batch_size = settings.batch_size or self.workload.default_batch_size
    batches = _Batches(self.workload.splits(self.data_dir)['train'], batch_size,
                       settings.seed)
    start, end = (jax.tree.map(jnp.asarray, self.start_params),
                  jax.tree.map(jnp.asarray, self.end_params))
    with self._manager() as manager:
      fresh = self._initial_state()
      state = (self._restore(manager, fresh) if manager.latest_step() is not None
               else fresh)
      saved = state.step
      if hasattr(progress, 'begin'):
        progress.begin(state.step)
      try:
        while state.step < settings.steps:
          current = state
          bends, opt_state, loss = _train_step(
              self.workload, settings, current.bends, current.opt_state, start, end,
              self.model_state, current.step, batches(current.step))
          step = current.step + 1
          loss_sum, log = current.loss_sum + loss, current.log
          if step % settings.log_every == 0 or step == settings.steps:
            count = step - (log[-1][0] if log else 0)
            log = (*log, (step, float(loss_sum) / count))
            loss_sum = jnp.zeros((), jnp.float32)
          state = TrainState(bends, opt_state, step, loss_sum, log)  # one assignment
          if step % settings.checkpoint_every == 0 or step == settings.steps:
            self._save(manager, state)
            saved = step
          if progress is not None:
            progress(step, settings.steps, log[-1][1] if log else None)
      except KeyboardInterrupt as e:
        if state.step != saved:
          self._save(manager, state)
        raise CurveInterrupted(state.step, settings.steps,
                               os.path.join(self.folder, CHECKPOINTS)) from e
    return state


def _loss(workload, settings: CurveSettings, bends, start, end, model_state, t, key, batch):
  """Training loss at the curve point φ(t), plus the optional L2 penalty on φ(t)."""
  w = weights_jax(settings.curve, settings.num_bends, t)
  params = jax.tree.map(lambda c: jnp.tensordot(w.astype(c.dtype), c, axes=1),
                        controls(start, bends, end))
  logits, _ = workload.model_fn(params, batch, model_state, spec.ForwardPassMode.TRAIN, key,
                                update_batch_norm=model_state is not None)
  loss = workload.loss_fn(batch['targets'], logits, None)
  value = loss['summed'] / loss['n_valid_examples']
  if settings.weight_decay:
    value += 0.5 * settings.weight_decay * sum(
        jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params))
  return value


# Compiled once per (workload object, settings): trainers of the same curve share it.
@functools.partial(jax.jit, static_argnums=(0, 1))
def _train_step(workload, settings: CurveSettings, bends, opt_state, start, end, model_state,
                step, batch):
  """One step: t and the dropout key from fold_in(seed, step), the gradient at φ(t) with
  respect to the bends only, one Optax update."""
  import optax
  key = jax.random.fold_in(jax.random.PRNGKey(settings.seed), step)
  t_key, dropout_key = jax.random.split(key)
  t = jax.random.uniform(t_key)
  loss, grads = jax.value_and_grad(_loss, argnums=2)(
      workload, settings, bends, start, end, model_state, t, dropout_key, batch)
  updates, opt_state = _optimizer(settings).update(grads, opt_state, bends)
  return optax.apply_updates(bends, updates), opt_state, loss


def _differences(recorded: dict, wanted: dict, prefix: str = '') -> list[str]:
  out = []
  for key in sorted(set(recorded) | set(wanted)):
    a, b = recorded.get(key), wanted.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      out += _differences(a, b, f'{prefix}{key}.')
    elif a != b:
      out.append(f'{prefix}{key}: was {a!r}, now {b!r}')
  return out


class Progress:
  """A progress line every few seconds: step, loss, steps per second, time left."""

  def __init__(self, label: str, every_sec: float = 5.0, stream=None):
    import sys
    self.label, self.every, self.stream = label, every_sec, stream or sys.stderr
    self.begin(0)

  def begin(self, step: int) -> None:
    """Count the rate from `step` (where a resumed run starts), from now."""
    self.start = self.last = time.monotonic()
    self.first_step = step
    self.warm = False

  def __call__(self, step: int, total: int, loss: float | None = None) -> None:
    now = time.monotonic()
    if not self.warm and step != total:
      # The first call follows the compilation: measure the rate from here.
      self.start = self.last = now
      self.first_step, self.warm = step, True
      return
    if now - self.last < self.every and step != total:
      return
    self.last = now
    done = step - self.first_step
    rate = done / max(now - self.start, 1e-9)
    left = (total - step) / rate if rate > 0 else float('nan')
    loss_text = '' if loss is None else f', loss {loss:.4f}'
    print(f'{self.label}: {step}/{total}{loss_text}, {rate:,.0f}/s, {left:,.0f} s left',
          file=self.stream, flush=True)
