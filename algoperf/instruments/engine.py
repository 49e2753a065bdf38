"""Device side of the instruments: everything one observation needs, in one jitted function.

`build(loss_call, plan)` returns `run(params0, params1, params_init, batch, model_state,
key) -> dict of arrays` that the host (`quantities.py`) turns into the quantities in
float64 NumPy. Shared pieces are computed once per observation:

- the per-example losses ℓᵢ(θ₀) and the mini-batch gradient g = ∇L(θ₀) of the mean over
  valid examples L = (1/n) Σᵢ ℓᵢ, by one `vjp`;
- per-example gradients Gᵢ = ∇ℓᵢ(θ₀) by `jax.vmap(jax.grad)` over examples, each example
  a batch of one, in chunks of `plan.chunk_size` examples under `lax.scan` (the batch is
  padded to whole chunks with masked-out copies), so at most one chunk of per-example
  gradients is alive at a time. Each chunk is reduced at once to what the quantities need
  (‖Gᵢ‖², Gᵢ·g, ‖Gᵢ − g‖², the squared norm of Gᵢ's part orthogonal to g, per-parameter
  Σᵢ Gᵢ² and Σᵢ (Gᵢ − g)², histogram counts); Gᵢ itself is never stored;
- Hessian-vector products Hv = ∇²L(θ₀)v forward-over-reverse (`jax.linearize` of
  `jax.grad`, linearised once, applied many times) for Hutchinson's trace, the Hessian
  diagonal (exact: one HVP per parameter; or Hutchinson's v ⊙ Hv) and Lanczos;
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


@dataclasses.dataclass(frozen=True)
class Plan:
  """What one observation computes (static: part of the compiled function)."""
  batch_size: int
  alpha: bool = False
  per_example: bool = False      # the chunked per-example gradient pass
  moments: bool = False          # Σᵢ Gᵢ², Σᵢ (Gᵢ − g)² per parameter
  gsnr_eps: float = 1e-5
  eb_eps: float = 1e-5
  hist_1d: tuple | None = None   # (bins, lo, hi)
  hist_2d: tuple | None = None   # ((xbins, ybins), (xlo, xhi), (ylo, yhi))
  hutchinson_samples: int = 0
  diag: str = 'none'             # 'none' | 'exact' | 'hutchinson'
  tic_eps: float = 1e-7
  lanczos_steps: int = 0
  chunk_size: int = 1


def _leaves(tree):
  return jax.tree_util.tree_leaves(tree)


def _row_sum(a):
  """Sum over every axis but the first."""
  return jnp.sum(a, axis=tuple(range(1, a.ndim)))


def _acc_dtype(dtype):
  return jnp.promote_types(dtype, jnp.float32)


def build(loss_call, plan: Plan):
  """The jitted device function for `plan` (see the module docstring)."""

  def run(params0, params1, params_init, batch, model_state, key):
    def losses_of(params, b):
      return loss_call(params, b, model_state)

    out = {}
    losses0, vjp, valid = jax.vjp(lambda p: losses_of(p, batch), params0, has_aux=True)
    dtype = losses0.dtype
    acc = _acc_dtype(dtype)
    valid = valid.astype(bool)
    n = jnp.sum(valid).astype(dtype)
    (g,) = vjp(jnp.where(valid, 1.0 / n, 0.0).astype(dtype))
    out['losses0'] = losses0
    out['valid'] = valid
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

    gg = sum(jnp.sum(jnp.square(x.astype(acc))) for x in g_leaves)

    if plan.per_example:
      out.update(_per_example_pass(losses_of, plan, params0, batch, valid, g, gg, n, acc))

    needs_hvp = plan.hutchinson_samples or plan.diag != 'none' or plan.lanczos_steps
    if needs_hvp:
      def mean_loss(p):
        losses, _ = losses_of(p, batch)
        return jnp.sum(jnp.where(valid, losses, 0.0)) / n

      _, hvp = jax.linearize(jax.grad(mean_loss), params0)
      flat0, unravel = ravel_pytree(params0)
      num = flat0.shape[0]

      def hvp_flat(v):
        return ravel_pytree(hvp(unravel(v)))[0]

      hutch = plan.hutchinson_samples
      lanczos_k = min(plan.lanczos_steps, num)
      exact = num if plan.diag == 'exact' else 0
      probes = _hvp_probes(hvp_flat, unravel, flat0, acc, key, lanczos_k, hutch, exact)
      out.update(probes['lanczos'])
      if hutch:
        out['hutchinson_leaves'] = probes['hutchinson_leaves']
      diag = None
      if plan.diag == 'hutchinson':
        diag = probes['hutchinson_diag_sum'] / hutch
      elif plan.diag == 'exact':
        diag = probes['exact_diag']
      if diag is not None and plan.moments:
        m2 = ravel_pytree(out.pop('sum_sq'))[0] / n
        out['tic_diag'] = jnp.sum(m2 / (diag + plan.tic_eps))
        out['tic_trace'] = jnp.sum(m2) / (jnp.sum(diag) + plan.tic_eps)
    out.pop('sum_sq', None)
    return out

  return jax.jit(run)


def _per_example_pass(losses_of, plan, params0, batch, valid, g, gg, n, acc):
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
  safe_gg = jnp.where(gg > 0, gg, 1.0)

  def body(carry, xs):
    example, m = xs
    losses, grads = value_and_grads(params0, example)
    leaves = []
    for a in _leaves(grads):
      mask = m.reshape((c,) + (1,) * (a.ndim - 1))
      leaves.append(jnp.where(mask, a.astype(acc), 0.0))
    sq = sum(_row_sum(jnp.square(a)) for a in leaves)
    dot = sum(_row_sum(a * gl) for a, gl in zip(leaves, g_leaves, strict=True))
    coef = dot / safe_gg
    orth = sum(_row_sum(jnp.square(a - coef.reshape((c,) + (1,) * (a.ndim - 1)) * gl))
               for a, gl in zip(leaves, g_leaves, strict=True))
    csq = sum(_row_sum(jnp.square(a - gl)) for a, gl in zip(leaves, g_leaves, strict=True))
    ys = {'losses_single': losses, 'sq': sq, 'dot': dot, 'orth': orth, 'csq': csq}
    if plan.moments:
      sum_sq, sum_csq = carry
      sum_sq = [s + jnp.sum(jnp.square(a), axis=0) for s, a in zip(sum_sq, leaves, strict=True)]
      sum_csq = [
          s + jnp.sum(jnp.where(m.reshape((c,) + (1,) * (a.ndim - 1)),
                                jnp.square(a - gl), 0.0), axis=0)
          for s, a, gl in zip(sum_csq, leaves, g_leaves, strict=True)]
      carry = (sum_sq, sum_csq)
    if plan.hist_1d is not None:
      ys['hist_1d'] = sum(_hist_1d(a, m, plan.hist_1d) for a in leaves)
    if plan.hist_2d is not None:
      ys['hist_2d'] = sum(_hist_2d(a, p, m, plan.hist_2d)
                          for a, p in zip(leaves, p_leaves, strict=True))
    return carry, ys

  init = ()
  if plan.moments:
    zeros = [jnp.zeros(x.shape, acc) for x in g_leaves]
    init = (zeros, list(zeros))
  carry, ys = lax.scan(body, init, (xs_batch, xs_valid))
  out = {k: v.reshape((padded,) + v.shape[2:])[:size] if v.ndim >= 2 and k not in
         ('hist_1d', 'hist_2d') else v for k, v in ys.items()}
  for k in ('hist_1d', 'hist_2d'):
    if k in ys:
      out[k] = ys[k]  # [chunks, ...] int32 per chunk; summed on the host in int64.
  if plan.moments:
    sum_sq, sum_csq = carry
    g_flat = jnp.concatenate([x.ravel() for x in g_leaves])
    c2 = jnp.concatenate([x.ravel() for x in sum_csq])
    g2 = jnp.square(g_flat)
    out['sum_sq'] = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(g), sum_sq)
    out['cabs_num'] = jnp.sum(c2)
    out['gsnr'] = jnp.mean(g2 / (c2 / n + plan.gsnr_eps))
    out['eb_snr'] = jnp.mean(g2 / (c2 / (n - 1) + plan.eb_eps))
  return out


def _hist_1d(x, m, spec):
  """Counts of the valid rows' finite entries of x, clamped into [lo, hi] (torch.histc)."""
  bins, lo, hi = spec
  xc = jnp.clip(x, lo, hi)
  i = jnp.clip(jnp.floor((xc - lo) * (bins / (hi - lo))).astype(jnp.int32), 0, bins - 1)
  w = (m.reshape((x.shape[0],) + (1,) * (x.ndim - 1)) & jnp.isfinite(x)).astype(jnp.int32)
  return jnp.bincount(i.ravel(), weights=w.ravel(), length=bins)


def _hist_2d(x, p, m, spec):
  """Cockpit's GradHist2d counts: x = gradient entry, y = parameter value, each clamped
  to its outermost bin centres, bin index floor((v − lo) / width)."""
  (nx, ny), (xlo, xhi), (ylo, yhi) = spec
  xw, yw = (xhi - xlo) / nx, (yhi - ylo) / ny
  y = jnp.broadcast_to(p.astype(x.dtype), x.shape)
  xi = jnp.clip(jnp.floor((jnp.clip(x, xlo + xw / 2, xhi - xw / 2) - xlo) / xw)
                .astype(jnp.int32), 0, nx - 1)
  yi = jnp.clip(jnp.floor((jnp.clip(y, ylo + yw / 2, yhi - yw / 2) - ylo) / yw)
                .astype(jnp.int32), 0, ny - 1)
  w = (m.reshape((x.shape[0],) + (1,) * (x.ndim - 1)) & jnp.isfinite(x)
       & jnp.isfinite(y)).astype(jnp.int32)
  return jnp.bincount((xi * ny + yi).ravel(), weights=w.ravel(), length=nx * ny)


def _hvp_probes(hvp_flat, unravel, flat0, acc, key, lanczos_k, hutch, exact):
  """Every Hessian-vector product of an observation, in one `lax.scan` over
  `lanczos_k + hutch + exact` steps (one HVP in the compiled loop, whichever use):

  - steps [0, lanczos_k): Lanczos (three-term recurrence) from a random start; returns
    the tridiagonal's diagonal `lanczos_alpha`, off-diagonal `lanczos_beta` and the number
    of completed steps `lanczos_steps` (it stops at breakdown, i.e. an invariant Krylov
    subspace); the host takes T's largest eigenvalue. Without reorthogonalisation lost
    orthogonality only duplicates converged Ritz values ("ghosts"), so the largest Ritz
    value stays a valid estimate of λmax, and memory stays O(D).
  - the next `hutch` steps: Rademacher vectors v; per-tensor sums of v ⊙ Hv
    (`hutchinson_leaves`, Hutchinson's trace samples) and Σ v ⊙ Hv (diagonal estimate).
  - the last `exact` steps: unit vectors e_j; Σ_j e_j ⊙ He_j is the exact diagonal.
  """
  num = flat0.shape[0]
  dtype = flat0.dtype
  eps = jnp.finfo(dtype).eps
  key_l, key_h = jax.random.split(key)
  total = lanczos_k + hutch + exact
  steps = max(lanczos_k, 1)
  v0 = jax.random.normal(key_l, (num,), dtype)
  v0 = v0 / jnp.linalg.norm(v0)

  def body(carry, i):
    (v, v_prev, beta_prev, alphas, betas, active, done, hutch_sum, exact_sum) = carry
    is_lanczos = i < lanczos_k
    is_hutch = (i >= lanczos_k) & (i < lanczos_k + hutch)
    is_exact = i >= lanczos_k + hutch
    probe = v
    if hutch:
      rademacher = jax.random.rademacher(jax.random.fold_in(key_h, i), (num,), dtype=dtype)
      probe = jnp.where(is_hutch, rademacher, probe)
    if exact:
      probe = jnp.where(is_exact, (jnp.arange(num) == i - lanczos_k - hutch).astype(dtype),
                        probe)
    hv = hvp_flat(probe)
    vhv = (probe * hv).astype(acc)
    # Lanczos
    lz = is_lanczos & active
    w = hv - beta_prev * v_prev
    a = jnp.vdot(w, v)
    w = w - a * v
    b = jnp.linalg.norm(w)
    j = jnp.minimum(i, steps - 1)
    alphas = jnp.where(lz, alphas.at[j].set(a), alphas)
    betas = jnp.where(lz, betas.at[j].set(b), betas)
    done = done + lz.astype(jnp.int32)
    keep = lz & (b > jnp.sqrt(eps) * (jnp.abs(a) + beta_prev))
    v_next = jnp.where(keep, w / jnp.where(b > 0, b, 1.0), 0.0)
    active = jnp.where(is_lanczos, keep, active)
    v_prev, v = jnp.where(is_lanczos, v, v_prev), jnp.where(is_lanczos, v_next, v)
    beta_prev = jnp.where(is_lanczos, jnp.where(keep, b, 0.0), beta_prev)
    # Hutchinson and the exact diagonal
    hutch_sum = hutch_sum + jnp.where(is_hutch, vhv, 0.0)
    exact_sum = exact_sum + jnp.where(is_exact, vhv, 0.0)
    per_leaf = jnp.stack([jnp.sum(x) for x in _leaves(unravel(vhv))])
    return (v, v_prev, beta_prev, alphas, betas, active, done, hutch_sum, exact_sum), per_leaf

  zeros = jnp.zeros((num,), acc)
  init = (v0, jnp.zeros_like(v0), jnp.zeros((), dtype), jnp.zeros((steps,), dtype),
          jnp.zeros((steps,), dtype), jnp.array(lanczos_k > 0), jnp.array(0, jnp.int32),
          zeros, zeros)
  carry, per_leaf = lax.scan(body, init, jnp.arange(total))
  _, _, _, alphas, betas, _, done, hutch_sum, exact_sum = carry
  return {'lanczos': ({'lanczos_alpha': alphas, 'lanczos_beta': betas,
                       'lanczos_steps': done} if lanczos_k else {}),
          'hutchinson_leaves': per_leaf[lanczos_k:lanczos_k + hutch],
          'hutchinson_diag_sum': hutch_sum, 'exact_diag': exact_sum}
