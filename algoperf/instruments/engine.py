"""Device side of the instruments: everything one observation needs, in one jitted function.

`build(loss_call, plan)` returns `run(params0, params1, params_init, batch, model_state,
key) -> dict of arrays` that the host (`quantities.py`) turns into the quantities in
float64 NumPy. Shared pieces are computed once per observation:

- the per-example losses ℓᵢ(θ₀) and the mini-batch gradient g = ∇L(θ₀) of the mean over
  valid examples L = (1/n) Σᵢ ℓᵢ, by one `vjp`;
- per-example gradients Gᵢ = ∇ℓᵢ(θ₀) by `jax.vmap(jax.grad)` over examples, each example
  a batch of one, in chunks of `plan.chunk_size` examples under `lax.scan` (the batch is
  padded to whole chunks with masked-out copies), so at most one chunk of per-example
  gradients is alive at a time. Each chunk is reduced at once to what the quantities need:
  ‖Gᵢ‖² and Gᵢ·g per example (as Cockpit, the host derives ‖Gᵢ − g‖² and the part
  orthogonal to g from them and ‖g‖²), per-parameter Σᵢ (Gᵢ − g)² (Σᵢ Gᵢ² follows as
  Σᵢ (Gᵢ − g)² + n g², as Σᵢ Gᵢ = n g), histogram counts; Gᵢ itself is never stored;
- Hessian-vector products Hv = ∇²L(θ₀)v forward-over-reverse (`jax.linearize` of
  `jax.grad`, linearised once, applied many times) for Hutchinson's trace, the Hessian
  diagonal (exact: one HVP per parameter; or Hutchinson's v ⊙ Hv) and Lanczos. The
  independent probes (Hutchinson's, the unit vectors) are `vmap`ped in blocks, and
  Lanczos's sequential steps are unrolled in blocks of `LANCZOS_BLOCK`, each block one
  jitted call: XLA's CPU backend runs a convolution's HVP inside a loop (`lax.scan`) about
  8× slower than the same HVP outside one (benchmarks/README.md).
- directional derivatives of every example's loss along the update d = θ₁ − θ₀ at both
  ends of the step by `jax.jvp` (for α: no per-example gradients needed).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

# Independent HVP probes evaluated at once (`vmap`): memory grows with the block (each
# probe carries its own forward and backward activations), speed with it too.
PROBE_BLOCK = 10
# Lanczos steps unrolled into one jitted call; the host chains the calls.
LANCZOS_BLOCK = 3


@dataclasses.dataclass(frozen=True)
class Plan:
  """What one observation computes (static: part of the compiled function)."""
  batch_size: int
  alpha: bool = False
  per_example: bool = False      # the chunked per-example gradient pass
  moments: bool = False          # Σᵢ (Gᵢ − g)² per parameter
  gsnr_eps: float = 1e-5
  eb_eps: float = 1e-5
  hist_1d: tuple | None = None   # (bins, lo, hi)
  hist_2d: tuple | None = None   # ((xbins, ybins), (xlo, xhi), (ylo, yhi))
  hutchinson_samples: int = 0
  diag: str = 'none'             # 'none' | 'exact' | 'hutchinson'
  tic_eps: float = 1e-7
  lanczos_steps: int = 0
  chunk_size: int = 1
  probe_block: int = PROBE_BLOCK
  lanczos_block: int = LANCZOS_BLOCK


def _leaves(tree):
  return jax.tree_util.tree_leaves(tree)


def _row_sum(a):
  """Sum over every axis but the first."""
  return jnp.sum(a, axis=tuple(range(1, a.ndim)))


def _acc_dtype(dtype):
  return jnp.promote_types(dtype, jnp.float32)


def _mean_loss_fn(losses_of, batch, valid, n):
  def mean_loss(p):
    losses, _ = losses_of(p, batch)
    return jnp.sum(jnp.where(valid, losses, 0.0)) / n
  return mean_loss


def build(loss_call, plan: Plan):
  """The device function for `plan` (see the module docstring): one jitted call, then
  the Lanczos blocks when the plan has Lanczos steps."""

  def losses_and_grad(params0, batch, model_state):
    losses_of = lambda p, b: loss_call(p, b, model_state)  # noqa: E731
    losses0, vjp, valid = jax.vjp(lambda p: losses_of(p, batch), params0, has_aux=True)
    valid = valid.astype(bool)
    n = jnp.sum(valid).astype(losses0.dtype)
    (g,) = vjp(jnp.where(valid, 1.0 / n, 0.0).astype(losses0.dtype))
    return losses_of, losses0, valid, n, g

  def main(params0, params1, params_init, batch, model_state, key):
    losses_of, losses0, valid, n, g = losses_and_grad(params0, batch, model_state)
    acc = _acc_dtype(losses0.dtype)
    out = {'losses0': losses0, 'valid': valid}
    g_leaves = _leaves(g)
    out['grad_sq_leaves'] = jnp.stack([jnp.sum(jnp.square(x.astype(acc))) for x in g_leaves])
    if params_init is not None:
      out['dist_sq_leaves'] = jnp.stack([
          jnp.sum(jnp.square((a - b).astype(acc)))
          for a, b in zip(_leaves(params0), _leaves(params_init), strict=True)])
    if params1 is not None:
      d = jax.tree.map(lambda a, b: a - b, params1, params0)
      out['update_sq_leaves'] = jnp.stack(
          [jnp.sum(jnp.square(x.astype(acc))) for x in _leaves(d)])
      if plan.alpha:
        per_ex = lambda p: losses_of(p, batch)[0]  # noqa: E731
        _, out['dlosses0'] = jax.jvp(per_ex, (params0,), (d,))
        out['losses1'], out['dlosses1'] = jax.jvp(per_ex, (params1,), (d,))

    sum_sq = None
    if plan.per_example:
      pe = _per_example_pass(losses_of, plan, params0, batch, valid, g, n, acc)
      sum_sq = pe.pop('sum_sq', None)
      out.update(pe)

    if plan.hutchinson_samples or plan.diag == 'exact':
      hvp_flat, unravel, flat0 = _flat_hvp(_mean_loss_fn(losses_of, batch, valid, n), params0)
      diag = None
      if plan.hutchinson_samples:
        per_leaf, diag_sum = _hutchinson(hvp_flat, unravel, flat0, acc, key,
                                         plan.hutchinson_samples, plan.probe_block)
        out['hutchinson_leaves'] = per_leaf
        if plan.diag == 'hutchinson':
          diag = diag_sum / plan.hutchinson_samples
      if plan.diag == 'exact':
        diag = _exact_diag(hvp_flat, flat0, acc, plan.probe_block)
      if diag is not None and sum_sq is not None:
        m2 = sum_sq / n
        out['tic_diag'] = jnp.sum(m2 / (diag + plan.tic_eps))
        out['tic_trace'] = jnp.sum(m2) / (jnp.sum(diag) + plan.tic_eps)
    return out

  main = jax.jit(main)
  if not plan.lanczos_steps:
    return main

  block = plan.lanczos_block
  blocks = math.ceil(plan.lanczos_steps / block)

  def lanczos_start(params0, key):
    flat0, _ = ravel_pytree(params0)
    return _lanczos_start(flat0, jax.random.split(key)[0], blocks * block)

  def lanczos_block(params0, batch, model_state, state, first):
    losses_of, _, valid, n, _ = losses_and_grad(params0, batch, model_state)
    hvp_flat, _, _ = _flat_hvp(_mean_loss_fn(losses_of, batch, valid, n), params0)
    return _lanczos_steps(hvp_flat, state, first, block, plan.lanczos_steps)

  lanczos_start = jax.jit(lanczos_start)
  lanczos_block = jax.jit(lanczos_block)   # one compile, called `blocks` times

  def run(params0, params1, params_init, batch, model_state, key):
    out = main(params0, params1, params_init, batch, model_state, key)
    state = lanczos_start(params0, key)
    for i in range(blocks):
      state = lanczos_block(params0, batch, model_state, state,
                            jnp.asarray(i * block, jnp.int32))
    out['lanczos_alpha'], out['lanczos_beta'], out['lanczos_steps'] = (
        state['alphas'], state['betas'], state['done'])
    return out

  return run


def _per_example_pass(losses_of, plan, params0, batch, valid, g, n, acc):
  """Per-example gradients chunk by chunk, each chunk reduced at once."""
  size = plan.batch_size
  c = plan.chunk_size
  chunks = math.ceil(size / c)
  padded = chunks * c
  idx = jnp.arange(padded) % size
  xs_batch = jax.tree.map(lambda x: x[idx].reshape((chunks, c) + x.shape[1:]), batch)
  xs_valid = ((jnp.arange(padded) < size) & valid[idx]).reshape(chunks, c)

  def single(params, example):
    losses, _ = losses_of(params, jax.tree.map(lambda x: x[None], example))
    return losses[0]

  value_and_grads = jax.vmap(jax.value_and_grad(single), in_axes=(None, 0))
  g_leaves = [x.astype(acc) for x in _leaves(g)]
  p_leaves = _leaves(params0)

  def body(carry, xs):
    example, m = xs
    losses, grads = value_and_grads(params0, example)
    leaves = []
    for a in _leaves(grads):
      mask = m.reshape((c,) + (1,) * (a.ndim - 1))
      leaves.append(jnp.where(mask, a.astype(acc), 0.0))
    ys = {'losses_single': losses,
          'sq': sum(_row_sum(jnp.square(a)) for a in leaves),
          'dot': sum(_row_sum(a * gl) for a, gl in zip(leaves, g_leaves, strict=True))}
    if plan.moments:
      carry = [
          s + jnp.sum(jnp.where(m.reshape((c,) + (1,) * (a.ndim - 1)),
                                jnp.square(a - gl), 0.0), axis=0)
          for s, a, gl in zip(carry, leaves, g_leaves, strict=True)]
    if plan.hist_1d is not None:
      ys['hist_1d'] = _hist_1d(leaves, m, plan.hist_1d)
    if plan.hist_2d is not None:
      ys['hist_2d'] = _hist_2d(leaves, p_leaves, m, plan.hist_2d)
    return carry, ys

  init = [jnp.zeros(x.shape, acc) for x in g_leaves] if plan.moments else ()
  carry, ys = lax.scan(body, init, (xs_batch, xs_valid))
  out = {k: v.reshape((padded,) + v.shape[2:])[:size] if v.ndim >= 2 and k not in
         ('hist_1d', 'hist_2d') else v for k, v in ys.items()}
  for k in ('hist_1d', 'hist_2d'):
    if k in ys:
      out[k] = ys[k]  # [chunks, ...] int32 per chunk; summed on the host in int64.
  if plan.moments:
    g_flat = jnp.concatenate([x.ravel() for x in g_leaves])
    c2 = jnp.concatenate([x.ravel() for x in carry])   # Σᵢ (Gᵢ − g)², centred: no cancellation
    g2 = jnp.square(g_flat)
    out['sum_sq'] = c2 + n * g2                         # Σᵢ Gᵢ², as Σᵢ Gᵢ = n g
    out['cabs_num'] = jnp.sum(c2)
    out['gsnr'] = jnp.mean(g2 / (c2 / n + plan.gsnr_eps))
    out['eb_snr'] = jnp.mean(g2 / (c2 / (n - 1) + plan.eb_eps))
  return out


def _counts(index_leaves, keep_leaves, length):
  """Histogram counts: one scatter-add per leaf (concatenating the leaves first copies
  B·D entries and is slower), dropped entries sent to an overflow bin instead of a
  weights array."""
  total = 0
  for index, keep in zip(index_leaves, keep_leaves, strict=True):
    index = jnp.where(keep, index, length).ravel()
    total = total + jnp.bincount(index, length=length + 1)[:length]
  return total


def _row_mask(m, x):
  return m.reshape((x.shape[0],) + (1,) * (x.ndim - 1))


def _hist_1d(leaves, m, spec):
  """Counts of the valid rows' finite entries, clamped into [lo, hi] (torch.histc)."""
  bins, lo, hi = spec
  index = [jnp.clip(jnp.floor((jnp.clip(x, lo, hi) - lo) * (bins / (hi - lo)))
                    .astype(jnp.int32), 0, bins - 1) for x in leaves]
  keep = [_row_mask(m, x) & jnp.isfinite(x) for x in leaves]
  return _counts(index, keep, bins)


def _hist_2d(leaves, p_leaves, m, spec):
  """Cockpit's GradHist2d counts: x = gradient entry, y = parameter value, each clamped
  to its outermost bin centres, bin index floor((v − lo) / width)."""
  (nx, ny), (xlo, xhi), (ylo, yhi) = spec
  xw, yw = (xhi - xlo) / nx, (yhi - ylo) / ny
  index, keep = [], []
  for x, p in zip(leaves, p_leaves, strict=True):
    y = jnp.broadcast_to(p.astype(x.dtype), x.shape)
    xi = jnp.clip(jnp.floor((jnp.clip(x, xlo + xw / 2, xhi - xw / 2) - xlo) / xw)
                  .astype(jnp.int32), 0, nx - 1)
    yi = jnp.clip(jnp.floor((jnp.clip(y, ylo + yw / 2, yhi - yw / 2) - ylo) / yw)
                  .astype(jnp.int32), 0, ny - 1)
    index.append(xi * ny + yi)
    keep.append(_row_mask(m, x) & jnp.isfinite(x) & jnp.isfinite(y))
  return _counts(index, keep, nx * ny)


def _flat_hvp(mean_loss, params0):
  """v ↦ ∇²L(θ₀)v on flat vectors, forward-over-reverse, linearised once."""
  _, hvp = jax.linearize(jax.grad(mean_loss), params0)
  flat0, unravel = ravel_pytree(params0)

  def hvp_flat(v):
    return ravel_pytree(hvp(unravel(v)))[0]
  return hvp_flat, unravel, flat0


def _hutchinson(hvp_flat, unravel, flat0, acc, key, samples, block):
  """Rademacher probes v: per-tensor sums of v ⊙ Hv per probe (Hutchinson's trace
  samples, [samples, tensors]) and Σ v ⊙ Hv over probes (the diagonal's estimate)."""
  num = flat0.shape[0]
  key_h = jax.random.split(key)[1]
  per_leaf, diag_sum = [], jnp.zeros((num,), acc)
  for start in range(0, samples, block):   # unrolled: see the module docstring
    size = min(block, samples - start)
    probes = jax.vmap(lambda i: jax.random.rademacher(
        jax.random.fold_in(key_h, i), (num,), dtype=flat0.dtype))(start + jnp.arange(size))
    vhv = (probes * jax.vmap(hvp_flat)(probes)).astype(acc)
    diag_sum = diag_sum + jnp.sum(vhv, axis=0)
    per_leaf.append(jax.vmap(lambda r: jnp.stack([jnp.sum(x) for x in _leaves(unravel(r))]))(vhv))
  return jnp.concatenate(per_leaf), diag_sum


def _exact_diag(hvp_flat, flat0, acc, block):
  """diag ∇²L exactly: Σ_j e_j ⊙ He_j, unit vectors in vmapped blocks (small models)."""
  num = flat0.shape[0]

  def column(j):
    e = (jnp.arange(num) == j).astype(flat0.dtype)
    return jnp.sum(e * hvp_flat(e)).astype(acc)  # (He_j)_j
  return lax.map(column, jnp.arange(num), batch_size=min(block, num))


def _lanczos_start(flat0, key, steps):
  """Lanczos's state before step 0: a random unit start vector, nothing computed."""
  v0 = jax.random.normal(key, flat0.shape, flat0.dtype)
  dtype = flat0.dtype
  return {'v': v0 / jnp.linalg.norm(v0), 'v_prev': jnp.zeros_like(v0),
          'beta_prev': jnp.zeros((), dtype), 'alphas': jnp.zeros((steps,), dtype),
          'betas': jnp.zeros((steps,), dtype), 'active': jnp.array(True),
          'done': jnp.array(0, jnp.int32)}


def _lanczos_steps(hvp_flat, state, first, count, steps):
  """Lanczos steps first..first+count−1 (three-term recurrence), unrolled; none past
  `steps`.

  The host takes the largest eigenvalue of the tridiagonal (diagonal `alphas`, off-diagonal
  `betas`, the first `done` steps). The iteration stops at breakdown (an invariant Krylov
  subspace). Without reorthogonalisation lost orthogonality only duplicates converged
  Ritz values ("ghosts"), so the largest Ritz value stays a valid estimate of λmax, and
  memory stays O(D).
  """
  v, v_prev, beta_prev = state['v'], state['v_prev'], state['beta_prev']
  alphas, betas, active, done = state['alphas'], state['betas'], state['active'], state['done']
  eps = jnp.finfo(v.dtype).eps
  for k in range(count):
    j = first + k
    active = active & (j < steps)
    w = hvp_flat(v) - beta_prev * v_prev
    a = jnp.vdot(w, v)
    w = w - a * v
    b = jnp.linalg.norm(w)
    alphas = jnp.where(active, alphas.at[j].set(a), alphas)
    betas = jnp.where(active, betas.at[j].set(b), betas)
    done = done + active.astype(jnp.int32)
    keep = active & (b > jnp.sqrt(eps) * (jnp.abs(a) + beta_prev))
    v_prev, v = v, jnp.where(keep, w / jnp.where(b > 0, b, 1.0), 0.0)
    beta_prev = jnp.where(keep, b, 0.0)
    active = keep
  return {'v': v, 'v_prev': v_prev, 'beta_prev': beta_prev, 'alphas': alphas,
          'betas': betas, 'active': active, 'done': done}
