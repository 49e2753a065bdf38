"""Cockpit's quantities in JAX: the names, the sets, and what each number is.

On a tracked step the instruments observe the workload's own loss at θ₀ (the params the
submission's update started from) and θ₁ (the params it returned), on the batch the
submission trained on, and report Cockpit's quantities (Schneider, Dangel & Hennig,
"Cockpit: A Practical Debugging Tool for the Training of Deep Neural Networks", NeurIPS
2021; code f-dangel/cockpit, `cockpit/quantities/*.py`).

Notation (used in every definition below):

- B: the number of valid examples in the batch (rows whose `weights` are non-zero);
  ℓᵢ(θ): example i's loss; L(θ) = (1/B) Σᵢ ℓᵢ(θ): the mini-batch loss (a mean).
- Gᵢ = ∇ℓᵢ(θ₀): example i's gradient, *not* scaled by 1/B. Cockpit gets BackPACK's
  `grad_batch` = (1/B)∇ℓᵢ and multiplies the 1/B back out; its formulas below are written
  for Gᵢ. g = ∇L(θ₀) = (1/B) Σᵢ Gᵢ: the mini-batch gradient.
- d = θ₁ − θ₀: the update; D: the number of parameters; j indexes parameters.
- "Per layer" in Cockpit means per parameter tensor; here the scalar is the total over all
  parameters, and the per-tensor values are in `arrays['<name>_layers']` (order:
  `Instruments.param_names`).

Every quantity is evaluated at θ₀ except UpdateSize and Alpha (both ends). Deviations
from Cockpit are stated in each definition; the main ones: Alpha's end point uses the
*same* batch at θ₁ (Cockpit uses the next step's batch), HessTrace is a Hutchinson estimate
(Cockpit: BackPACK's exact diagonal), TIC's Hessian diagonal is exact for small models and
Hutchinson's estimate otherwise (said in `Instruments.method_note`), and HessMaxEV uses
Lanczos (Cockpit: power iteration).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import numpy as np

from algoperf.instruments import engine

DEFAULT_FLAG = '--instruments'
DEFAULT_MEMORY_FLAG = '--instruments_max_chunk_bytes'
DEFAULT_MAX_CHUNK_BYTES = 256 * 2**20

# Stabilisers, as in Cockpit.
GSNR_EPS = 1e-5       # mean_gsnr.py: epsilon=1e-5
EB_EPS = 1e-5         # early_stopping.py: epsilon=1e-5
TIC_EPS = 1e-7        # tic.py: epsilon=1e-7
ALPHA_VAR_EPS = 1e-10  # alpha.py: a zero variance is replaced by 1e-10


# --- the definitions, one function per quantity ---------------------------------------
# Each takes the host-side statistics `s` (float64 NumPy, see `Instruments._stats`) and
# returns the quantity's scalar (NaN where it is undefined, with a note in `notes`).


def loss(s, notes) -> float:
  """Loss (cockpit/quantities/loss.py): the mini-batch loss L(θ₀) = (1/B) Σᵢ ℓᵢ(θ₀)."""
  return float(np.mean(s['l0']))


def grad_norm(s, notes) -> float:
  """GradNorm (grad_norm.py): ‖g‖₂ of the mini-batch gradient g = ∇L(θ₀).

  Cockpit logs one norm per parameter tensor; the scalar is their root-sum-of-squares
  (the norm of the whole gradient), the tensors' norms are `grad_norm_layers`.
  """
  return float(np.sqrt(np.sum(s['grad_sq_leaves'])))


def update_size(s, notes) -> float:
  """UpdateSize (update_size.py): ‖θ₁ − θ₀‖₂, the size of this step's update.

  Per tensor in Cockpit (`update_size_layers`); the scalar is the whole update's norm.
  """
  return float(np.sqrt(np.sum(s['update_sq_leaves'])))


def distance(s, notes) -> float:
  """Distance (distance.py): ‖θ₀ − θ_init‖₂, the distance from the initial parameters.

  Per tensor in Cockpit (`distance_layers`); the scalar is the whole distance.
  """
  return float(np.sqrt(np.sum(s['dist_sq_leaves'])))


def alpha(s, notes) -> float:
  """Alpha (alpha.py): the normalised step length of a noise-aware quadratic fit.

  Along the update, with t = ‖d‖₂ and the direction d̂ = d/t, at both ends (θ₀ at 0,
  θ₁ at t) on the same batch:
    f   = L (mean loss),                  var_f  = sample variance (ddof 1) of the ℓᵢ,
    df  = g·d̂ = mean of the projections,  var_df = sample variance (ddof 1) of the
          per-example projections pᵢ = ∇ℓᵢ·d̂ (directional derivatives, by `jax.jvp`).
  A zero variance is replaced by 1e-10. The quadratic q(τ) = μ₀ + μ₁τ + μ₂τ² is fitted by
  weighted least squares to the four observations (f at 0 and t, df at 0 and t) with
  weights 1/var: μ = (ΦΛ⁻¹Φᵀ)⁻¹ΦΛ⁻¹y, Φ's columns (1,0,0), (1,t,t²), (0,1,0), (0,1,2t),
  Λ = diag(var_f₀, var_f₁, var_df₀, var_df₁), y = (f₀, f₁, df₀, df₁). Then
    α = 2t / ᾱ − 1  with ᾱ = −μ₁/μ₂ (the step to "the other side" of the parabola),
  where ᾱ/2 is the fitted minimum: α = 0 steps exactly to the minimum, α = 1 to the
  point of equal height on the other side, α < 0 undershoots (α → −1 as t → 0), α > 0
  overshoots. A concave fit (μ₂ < 0; here also μ₂ = 0) gives α = −1, as in Cockpit.
  Deviations: Cockpit's end point is the *next* step's loss on the *next* batch; here both
  ends use this step's batch, so the fit sees one loss surface. A zero update (t = 0)
  gives NaN (α undefined; Cockpit logs −1), with a note. B < 2 gives NaN.
  """
  t = float(np.sqrt(np.sum(s['update_sq_leaves'])))
  if not t > 0:
    notes['alpha'] = 'the update was zero: α undefined (NaN)'
    return math.nan
  if len(s['l0']) < 2:
    notes['alpha'] = 'fewer than 2 valid examples: variances undefined (NaN)'
    return math.nan
  p0, p1 = s['dl0'] / t, s['dl1'] / t
  fs = [np.mean(s['l0']), np.mean(s['l1'])]
  dfs = [np.mean(p0), np.mean(p1)]
  var_fs = [np.var(s['l0'], ddof=1), np.var(s['l1'], ddof=1)]
  var_dfs = [np.var(p0, ddof=1), np.var(p1, ddof=1)]
  return alpha_from_fit(t, fs, dfs, var_fs, var_dfs)


def alpha_from_fit(t: float, fs, dfs, var_fs, var_dfs) -> float:
  """α from the four noisy observations of a quadratic along the step (see `alpha`)."""
  vals = np.asarray(list(fs) + list(dfs), np.float64)
  if not np.all(np.isfinite(vals)) or not np.all(np.isfinite(list(var_fs) + list(var_dfs))):
    return math.nan
  var = np.asarray([v if v != 0 else ALPHA_VAR_EPS for v in list(var_fs) + list(var_dfs)],
                   np.float64)
  phi = np.array([[1.0, 0.0, 0.0], [1.0, t, t * t], [0.0, 1.0, 0.0], [0.0, 1.0, 2.0 * t]]).T
  lam_inv = np.diag(1.0 / var)
  try:
    mu = np.linalg.solve(phi @ lam_inv @ phi.T, phi @ lam_inv @ vals)
  except np.linalg.LinAlgError:
    return math.nan
  if not mu[2] > 0:
    return -1.0
  alpha_bar = -mu[1] / mu[2]
  return float(2.0 * t / alpha_bar - 1.0)


def _need_two(name, s, notes) -> bool:
  if len(s['l0']) < 2:
    notes[name] = 'fewer than 2 valid examples: sample variance undefined (NaN)'
    return False
  return True


def norm_test(s, notes) -> float:
  """NormTest (norm_test.py; Byrd et al. 2012, eq. 3.9): the largest θ the norm test
  passes with,
    θ_max = sqrt( Σᵢ‖Gᵢ − g‖² / (B − 1) / (B ‖g‖²) ),
  where Σᵢ‖Gᵢ − g‖²/(B−1) = (Σᵢ‖Gᵢ‖² − B‖g‖²)/(B−1) is the ℓ₁ norm of the sample
  variance (Cockpit's form; ‖Gᵢ − g‖² = ‖Gᵢ‖² − 2Gᵢ·g + ‖g‖² in float64 on the host).
  """
  if not _need_two('norm_test', s, notes):
    return math.nan
  b = len(s['l0'])
  var_l1 = np.sum(s['csq']) / (b - 1)
  return float(np.sqrt(var_l1 / b / s['gg']))


def inner_test(s, notes) -> float:
  """InnerTest (inner_test.py; Bollapragada et al. 2017, eq. 2.6): the largest θ the
  inner-product test passes with,
    θ_max = sqrt( Var(Gᵢ·g) / (B ‖g‖⁴) ),
  Var(Gᵢ·g) = Σᵢ (Gᵢ·g − ‖g‖²)² / (B − 1) = (Σᵢ (Gᵢ·g)² − B‖g‖⁴)/(B − 1).
  """
  if not _need_two('inner_test', s, notes):
    return math.nan
  b = len(s['l0'])
  var = np.sum(np.square(s['dot'] - s['gg'])) / (b - 1)
  return float(np.sqrt(var / b / s['gg'] ** 2))


def ortho_test(s, notes) -> float:
  """OrthoTest (ortho_test.py; Bollapragada et al. 2017, eq. 3.3): the largest ν the
  orthogonality test passes with,
    ν_max = sqrt( Σᵢ ‖Gᵢ − (Gᵢ·g/‖g‖²) g‖² / (B − 1) / (B ‖g‖²) ),
  the numerator being Σᵢ‖Gᵢ‖² − Σᵢ (Gᵢ·g)²/‖g‖² (Cockpit's form).
  """
  if not _need_two('ortho_test', s, notes):
    return math.nan
  b = len(s['l0'])
  var = np.sum(s['orth']) / (b - 1)
  return float(np.sqrt(var / b / s['gg']))


def mean_gsnr(s, notes) -> float:
  """MeanGSNR (mean_gsnr.py; Liu et al. 2020): the mean over all D parameters of
    GSNRⱼ = gⱼ² / ( (1/B)Σᵢ Gᵢⱼ² − gⱼ² + ε ),  ε = 1e-5,
  i.e. the squared mean over the biased (1/B) variance of the per-example gradients.
  """
  if not _need_two('mean_gsnr', s, notes):
    return math.nan
  return float(s['gsnr'])


def early_stopping(s, notes) -> float:
  """EarlyStopping (early_stopping.py; Mahsereci et al. 2017, eq. 7, the EB criterion):
    EB = 1 − (B/D) Σⱼ gⱼ² / (σⱼ² + ε),  σⱼ² = (Σᵢ Gᵢⱼ² − B gⱼ²)/(B − 1),  ε = 1e-5.
  Training should stop when EB > 0. Cockpit computes it for zero-momentum SGD only (it
  raises otherwise); here it is reported for any optimizer, the formula unchanged.
  """
  if not _need_two('early_stopping', s, notes):
    return math.nan
  return float(1.0 - len(s['l0']) * s['eb_snr'])


def cabs(s, notes) -> float:
  """CABS (cabs.py; Balles et al. 2017, eq. 22): the batch size the CABS rule suggests,
    B_CABS = η · Σⱼ (Σᵢ Gᵢⱼ² − B gⱼ²) / (B · L(θ₀)),
  i.e. η · tr(Σ̂)/L with Σ̂ the biased per-example gradient covariance. η is the learning
  rate given to `observe(learning_rate=...)`; without one (a runner's trial: submissions
  do not expose their rate) the step's effective rate η = ‖θ₁ − θ₀‖ / ‖g‖, which is the
  rate itself for zero-momentum SGD without weight decay, the only optimizer Cockpit
  supports (it raises for others); here it is reported for any optimizer. NaN with a note
  when there is neither a rate nor a nonzero step.
  """
  lr = s.get('learning_rate')
  if lr is None:
    step_sq = float(np.sum(s.get('update_sq_leaves', 0.0)))
    if not (step_sq > 0 and s['gg'] > 0):
      notes['cabs'] = ('needs the learning rate: none given (observe(learning_rate=...)) '
                       'and no nonzero step to take the effective rate ‖Δθ‖/‖g‖ from: NaN')
      return math.nan
    lr = math.sqrt(step_sq / s['gg'])
  b = len(s['l0'])
  return float(lr * s['cabs_num'] / (b * np.mean(s['l0'])))


def hess_trace(s, notes) -> float:
  """HessTrace (hess_trace.py): tr ∇²L(θ₀), the trace of the mini-batch loss's Hessian.

  Estimated by Hutchinson: (1/K) Σₖ vₖᵀ H vₖ with K Rademacher vectors vₖ and Hessian-
  vector products forward-over-reverse (`Instruments.method_note` gives K). Cockpit sums
  BackPACK's exact Hessian diagonal per tensor; the per-tensor Hutchinson estimates are
  `hess_trace_layers`.
  """
  return float(np.sum(np.mean(s['hutchinson_leaves'], axis=0)))


def hess_max_ev(s, notes) -> float:
  """HessMaxEV (hess_max_ev.py): λmax(∇²L(θ₀)), the Hessian's largest eigenvalue.

  By Lanczos on Hessian-vector products (k steps from a random start, the largest
  eigenvalue of the tridiagonal T), i.e. the largest *algebraic* eigenvalue, as
  `scipy.sparse.linalg.eigsh(which='LA')` in Cockpit's alternative path. Cockpit's default
  power iteration returns the eigenvalue of largest magnitude instead; the two differ only
  when a negative eigenvalue dominates.
  """
  m = int(s['lanczos_steps'])
  a, b = s['lanczos_alpha'][:m], s['lanczos_beta'][:max(m - 1, 0)]
  if m == 0 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
    return math.nan
  t = np.diag(a) + np.diag(b, 1) + np.diag(b, -1)
  return float(np.linalg.eigvalsh(t)[-1])


def tic_diag(s, notes) -> float:
  """TICDiag (tic.py; Thomas et al. 2019): Takeuchi's information criterion with a
  diagonal curvature,
    TIC = Σⱼ Mⱼ / (hⱼ + ε),  Mⱼ = (1/B) Σᵢ Gᵢⱼ² (uncentred second moment),  ε = 1e-7,
  hⱼ = the Hessian diagonal of L at θ₀ (Cockpit: BackPACK's exact `DiagHessian`). Here
  hⱼ is exact (one HVP per parameter) for models up to `exact_diag_max_params`
  parameters, else Hutchinson's estimate (1/K) Σₖ vₖ ⊙ Hvₖ; `method_note` says which.
  """
  return float(s['tic_diag'])


def tic_trace(s, notes) -> float:
  """TICTrace (tic.py): TIC with traces, Σⱼ Mⱼ / (Σⱼ hⱼ + ε), Mⱼ and hⱼ as in TICDiag."""
  return float(s['tic_trace'])


def grad_hist_1d(s, notes) -> None:
  """GradHist1d (grad_hist.py): a histogram of all per-example gradient entries Gᵢⱼ
  (i over valid examples, j over all parameters): 100 bins on [−2, 2] by default,
  entries outside clamped into the outer bins (torch.histc on clamped values). Arrays
  `grad_hist_1d` (counts) and `grad_hist_1d_edges`.
  """


def grad_hist_2d(s, notes) -> None:
  """GradHist2d (grad_hist.py): a 2-d histogram of the pairs (Gᵢⱼ, θ₀ⱼ), gradient entry
  on the x axis (40 bins on [−1, 1]), the parameter's value on the y axis (50 bins on
  [−2, 2]); values outside are clamped to the outermost bin centres. Arrays
  `grad_hist_2d` (counts, shape [x bins, y bins]), `grad_hist_2d_x_edges`,
  `grad_hist_2d_y_edges`.
  """


# --- the registry ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Quantity:
  name: str
  cockpit: str               # Cockpit's class name
  source: str                # the Cockpit file defining it
  needs: frozenset           # engine pieces
  compute: Callable
  histogram: bool = False

  @property
  def definition(self) -> str:
    return (self.compute.__doc__ or '').strip()


def _q(name, cockpit, source, needs, compute, histogram=False):
  return Quantity(name, cockpit, f'cockpit/quantities/{source}', frozenset(needs), compute,
                  histogram)


QUANTITIES: dict[str, Quantity] = {q.name: q for q in [
    _q('loss', 'Loss', 'loss.py', (), loss),
    _q('grad_norm', 'GradNorm', 'grad_norm.py', (), grad_norm),
    _q('update_size', 'UpdateSize', 'update_size.py', {'after'}, update_size),
    _q('distance', 'Distance', 'distance.py', {'init'}, distance),
    _q('alpha', 'Alpha', 'alpha.py', {'after', 'alpha'}, alpha),
    _q('norm_test', 'NormTest', 'norm_test.py', {'per_example'}, norm_test),
    _q('inner_test', 'InnerTest', 'inner_test.py', {'per_example'}, inner_test),
    _q('ortho_test', 'OrthoTest', 'ortho_test.py', {'per_example'}, ortho_test),
    _q('grad_hist_1d', 'GradHist1d', 'grad_hist.py', {'per_example', 'hist_1d'},
       grad_hist_1d, histogram=True),
    _q('grad_hist_2d', 'GradHist2d', 'grad_hist.py', {'per_example', 'hist_2d'},
       grad_hist_2d, histogram=True),
    _q('mean_gsnr', 'MeanGSNR', 'mean_gsnr.py', {'per_example', 'moments'}, mean_gsnr),
    _q('hess_trace', 'HessTrace', 'hess_trace.py', {'hutchinson'}, hess_trace),
    _q('hess_max_ev', 'HessMaxEV', 'hess_max_ev.py', {'lanczos'}, hess_max_ev),
    _q('tic_diag', 'TICDiag', 'tic.py', {'per_example', 'moments', 'diag'}, tic_diag),
    _q('tic_trace', 'TICTrace', 'tic.py', {'per_example', 'moments', 'diag'}, tic_trace),
    _q('early_stopping', 'EarlyStopping', 'early_stopping.py', {'per_example', 'moments'},
       early_stopping),
    _q('cabs', 'CABS', 'cabs.py', {'per_example', 'moments', 'after'}, cabs),
]}

# cockpit/utils/configuration.py: quantities_cls_for_configuration.
ECONOMY = ('alpha', 'distance', 'grad_hist_1d', 'grad_norm', 'inner_test', 'loss',
           'norm_test', 'ortho_test', 'update_size')
BUSINESS = ECONOMY + ('tic_diag', 'hess_trace')
FULL = BUSINESS + ('hess_max_ev', 'grad_hist_2d')
SETS: dict[str, tuple[str, ...]] = {'economy': ECONOMY, 'business': BUSINESS, 'full': FULL}


def _key(text: str) -> str:
  return ''.join(ch for ch in text.lower() if ch.isalnum())


_ALIASES = {_key(q.name): q.name for q in QUANTITIES.values()}
_ALIASES.update({_key(q.cockpit): q.name for q in QUANTITIES.values()})


def resolve(spec: str | Iterable[str], *, flag: str = DEFAULT_FLAG) -> tuple[str, ...]:
  """Quantity names from a set name or a comma-separated list of sets and quantities.

  Names match case- and underscore-insensitively, Cockpit's class names too ('TICDiag',
  'GradHist1d'). The result is in the canonical order of `QUANTITIES`, without
  duplicates. ValueError naming `flag` for an unknown or empty name.
  """
  items = spec.split(',') if isinstance(spec, str) else list(spec)
  items = [str(i).strip() for i in items]
  valid = (f'valid sets: {", ".join(SETS)}; valid quantities: {", ".join(QUANTITIES)}')
  if not any(items):
    raise ValueError(f'{flag}: no quantity or set given; {valid}.')
  chosen = set()
  for item in items:
    if not item:
      raise ValueError(f'{flag}={spec!r}: empty name in the list; {valid}.')
    if item.lower() in SETS:
      chosen.update(SETS[item.lower()])
    elif _key(item) in _ALIASES:
      chosen.add(_ALIASES[_key(item)])
    else:
      raise ValueError(f'{flag}: unknown quantity or set {item!r}; {valid}.')
  return tuple(name for name in QUANTITIES if name in chosen)


# --- the computer ----------------------------------------------------------------------


@dataclasses.dataclass
class Observation:
  """One tracked step's results.

  `scalars`: quantity name -> float (NaN where undefined; `notes` says why).
  `arrays`: histograms (`grad_hist_1d`, `grad_hist_1d_edges`, `grad_hist_2d`,
  `grad_hist_2d_x_edges`, `grad_hist_2d_y_edges`) and per-tensor values
  (`<name>_layers` for grad_norm, update_size, distance, hess_trace; order
  `Instruments.param_names`).
  `notes`: quantity name -> why its value is NaN (only for those that are).
  """
  scalars: dict[str, float]
  arrays: dict[str, np.ndarray]
  notes: dict[str, str]


class Instruments:
  """Computes the chosen quantities on tracked steps; build once per trial.

  Args:
    names: quantity names, or a spec for `resolve` ('economy', 'loss,alpha').
    per_example_loss_fn: `fn(params, batch) -> losses [B]`, or `-> (losses [B], valid
      [B] bool)`. With a truthy attribute `takes_model_state` it is called as
      `fn(params, batch, model_state)` (see `per_example_loss_fn(workload, ...)`). It must
      not couple examples (eval-mode batch norm): observe() checks this and raises.
    max_chunk_bytes: bound on the per-example gradients held at once (chunk × D × bytes);
      the batch is processed in chunks under it. ValueError naming `memory_flag` if one
      example's gradient alone exceeds it. (Activations of a chunk come on top.)
    hutchinson_samples: K Rademacher vectors for HessTrace (and a Hutchinson diagonal).
    lanczos_steps: Lanczos steps for HessMaxEV (at most D).
    hess_diag: the Hessian diagonal for TIC: 'exact' (D HVPs), 'hutchinson', or 'auto'
      (exact iff D ≤ exact_diag_max_params).
    hist_1d_bins/hist_1d_range, hist_2d_bins/hist_2d_range: Cockpit's defaults.
  """

  def __init__(self, names, per_example_loss_fn, *,
               max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
               hutchinson_samples: int = 30, lanczos_steps: int = 30,
               hess_diag: str = 'auto', exact_diag_max_params: int = 2048,
               hist_1d_bins: int = 100, hist_1d_range=(-2.0, 2.0),
               hist_2d_bins=(40, 50), hist_2d_range=((-1.0, 1.0), (-2.0, 2.0)),
               flag: str = DEFAULT_FLAG, memory_flag: str = DEFAULT_MEMORY_FLAG):
    self.names = resolve(names, flag=flag)
    self.flag, self.memory_flag = flag, memory_flag
    self._fn = per_example_loss_fn
    self._takes_state = bool(getattr(per_example_loss_fn, 'takes_model_state', False))
    if not int(max_chunk_bytes) > 0:
      raise ValueError(f'{memory_flag} must be positive, got {max_chunk_bytes}.')
    if hess_diag not in ('auto', 'exact', 'hutchinson'):
      raise ValueError(f"hess_diag must be 'auto', 'exact' or 'hutchinson', got {hess_diag!r}")
    if hutchinson_samples < 1 or lanczos_steps < 1:
      raise ValueError('hutchinson_samples and lanczos_steps must be ≥ 1')
    self.max_chunk_bytes = int(max_chunk_bytes)
    self.hutchinson_samples = int(hutchinson_samples)
    self.lanczos_steps = int(lanczos_steps)
    self.hess_diag = hess_diag
    self.exact_diag_max_params = int(exact_diag_max_params)
    self.hist_1d = (int(hist_1d_bins), float(hist_1d_range[0]), float(hist_1d_range[1]))
    self.hist_2d = ((int(hist_2d_bins[0]), int(hist_2d_bins[1])),
                    tuple(map(float, hist_2d_range[0])), tuple(map(float, hist_2d_range[1])))
    self.needs = frozenset().union(*(QUANTITIES[n].needs for n in self.names))
    self.forward_mode_note = getattr(
        per_example_loss_fn, 'forward_mode_note',
        'per-example losses from the given function, which must not couple examples '
        '(observe() raises if a per-example loss depends on the rest of the batch)')
    self.param_names: list[str] | None = None
    self.num_params: int | None = None
    self._compiled: dict[Any, Callable] = {}
    self._plans: dict[Any, engine.Plan] = {}

  # --- what the output says about how it was computed ------------------------------

  def _diag_method(self, num_params: int) -> str:
    if self.hess_diag != 'auto':
      return self.hess_diag
    return 'exact' if num_params <= self.exact_diag_max_params else 'hutchinson'

  @property
  def method_note(self) -> str:
    """How the estimated quantities are computed (after the first observe/check, with
    the model's size)."""
    parts = []
    if 'hutchinson' in self.needs:
      parts.append(f'hess_trace: Hutchinson, {self.hutchinson_samples} Rademacher vectors')
    if 'lanczos' in self.needs:
      parts.append(f'hess_max_ev: Lanczos, up to {self.lanczos_steps} steps, largest '
                   'algebraic eigenvalue')
    if 'diag' in self.needs:
      if self.num_params is None:
        how = (f'{self.hess_diag} (exact iff D ≤ {self.exact_diag_max_params})'
               if self.hess_diag == 'auto' else self.hess_diag)
      else:
        how = self._diag_method(self.num_params)
        how = ('exact (one HVP per parameter)' if how == 'exact' else
               f'Hutchinson estimate from {self.hutchinson_samples} Rademacher vectors')
      parts.append(f'tic Hessian diagonal: {how}')
    if 'alpha' in self.needs:
      parts.append("alpha: both ends of the step on the step's own batch")
    if 'cabs' in self.names:
      parts.append('cabs: the learning rate given to observe(), else the step\'s effective '
                   'rate ‖Δθ‖/‖g‖')
    return '; '.join(parts) if parts else 'all quantities exact'

  def describe(self) -> dict[str, Any]:
    """For the trial's meta data."""
    return {'quantities': list(self.names), 'forward_mode': self.forward_mode_note,
            'methods': self.method_note, 'max_chunk_bytes': self.max_chunk_bytes,
            'num_params': self.num_params, 'param_names': self.param_names,
            'hist_1d': {'bins': self.hist_1d[0], 'range': list(self.hist_1d[1:])},
            'hist_2d': {'bins': list(self.hist_2d[0]),
                        'range': [list(self.hist_2d[1]), list(self.hist_2d[2])]}}

  # --- planning ------------------------------------------------------------------------

  def _call(self, params, batch, model_state):
    out = self._fn(params, batch, model_state) if self._takes_state else self._fn(params, batch)
    if isinstance(out, tuple):
      losses, valid = out
    else:
      losses, valid = out, None
    losses = jax.numpy.asarray(losses)
    size = jax.tree_util.tree_leaves(batch)[0].shape[0]
    if losses.shape != (size,):
      raise ValueError(
          f'{self.flag}: the per-example loss function returned shape {losses.shape}; the '
          f'instruments need one loss per example, shape ({size},).')
    if valid is None:
      valid = jax.numpy.ones((size,), bool)
    return losses, jax.numpy.asarray(valid).astype(bool)

  def _plan(self, params, batch) -> engine.Plan:
    leaves = jax.tree_util.tree_leaves(batch)
    if not leaves:
      raise ValueError(f'{self.flag}: the batch is empty.')
    size = leaves[0].shape[0] if leaves[0].ndim else None
    for path, leaf in jax.tree_util.tree_flatten_with_path(batch)[0]:
      if not getattr(leaf, 'ndim', 0) or leaf.shape[0] != size:
        raise ValueError(
            f'{self.flag}: batch entry {jax.tree_util.keystr(path)} has shape '
            f'{getattr(leaf, "shape", ())}; every entry needs the batch axis first '
            f'({size} examples).')
    param_leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    num = sum(int(np.prod(x.shape)) for _, x in param_leaves)
    itemsize = max(np.dtype(x.dtype).itemsize for _, x in param_leaves)
    self.num_params = num
    self.param_names = [jax.tree_util.keystr(p) for p, _ in param_leaves]
    per_example = 'per_example' in self.needs
    chunk = size
    if per_example:
      per_ex_bytes = num * itemsize
      chunk = min(size, self.max_chunk_bytes // per_ex_bytes)
      if chunk < 1:
        raise ValueError(
            f'{self.memory_flag}={self.max_chunk_bytes} is too small for per-example '
            f'gradients: one example\'s gradient needs {per_ex_bytes} bytes ({num} '
            f'parameters × {itemsize} bytes). Raise {self.memory_flag} to at least '
            f'{per_ex_bytes}, or choose quantities without per-example gradients '
            f'({self.flag}=loss,grad_norm,update_size,distance,alpha,hess_trace,hess_max_ev).')
    diag = self._diag_method(num) if 'diag' in self.needs else 'none'
    hutch = self.hutchinson_samples if ('hutchinson' in self.needs or diag == 'hutchinson') else 0
    return engine.Plan(
        batch_size=size, alpha='alpha' in self.needs, per_example=per_example,
        moments='moments' in self.needs, gsnr_eps=GSNR_EPS, eb_eps=EB_EPS, tic_eps=TIC_EPS,
        hist_1d=self.hist_1d if 'hist_1d' in self.needs else None,
        hist_2d=self.hist_2d if 'hist_2d' in self.needs else None,
        hutchinson_samples=hutch, diag=diag,
        lanczos_steps=min(self.lanczos_steps, num) if 'lanczos' in self.needs else 0,
        chunk_size=max(chunk, 1))

  def _device_fn(self, params, batch):
    shapes = jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), (params, batch))
    key = repr(shapes)
    if key not in self._compiled:
      plan = self._plan(params, batch)
      self._plans[key] = plan
      self._compiled[key] = engine.build(self._call, plan)
    return self._compiled[key], self._plans[key]

  def _inputs(self, params_before, params_after, initial_params, model_state, rng):
    if 'after' in self.needs and params_after is None:
      raise ValueError(f'{self.flag}: {", ".join(n for n in self.names if "after" in QUANTITIES[n].needs)} '
                       'need params_after')
    if 'init' in self.needs and initial_params is None:
      raise ValueError(f'{self.flag}: distance needs initial_params')
    if rng is None:
      rng = jax.random.PRNGKey(0)
    return (params_before, params_after if 'after' in self.needs else None,
            initial_params if 'init' in self.needs else None, model_state, rng)

  def check(self, params, batch, model_state=None) -> None:
    """Validate shapes, the per-example losses and the memory bound without computing
    (abstract evaluation); raises the same errors observe() would."""
    fn, _ = self._device_fn(params, batch)
    args = self._inputs(params, params, params, model_state, None)
    jax.eval_shape(fn, args[0], args[1], args[2], batch, args[3], args[4])

  # --- one observation -----------------------------------------------------------------

  def observe(self, params_before, params_after, initial_params, batch, rng=None,
              learning_rate: float | None = None, model_state=None) -> Observation:
    """The chosen quantities at this step (see the module docstring for each)."""
    fn, plan = self._device_fn(params_before, batch)
    p0, p1, pinit, state, key = self._inputs(params_before, params_after, initial_params,
                                             model_state, rng)
    raw = jax.device_get(fn(p0, p1, pinit, batch, state, key))
    raw = {k: np.asarray(v) for k, v in raw.items()}
    valid = raw['valid'].astype(bool)
    s: dict[str, Any] = {'learning_rate': None if learning_rate is None
                         else float(learning_rate)}
    f64 = lambda x: np.asarray(x, np.float64)  # noqa: E731
    s['l0'] = f64(raw['losses0'])[valid]
    s['grad_sq_leaves'] = f64(raw['grad_sq_leaves'])
    s['gg'] = float(np.sum(s['grad_sq_leaves']))
    for k in ('dist_sq_leaves', 'update_sq_leaves', 'hutchinson_leaves', 'lanczos_alpha',
              'lanczos_beta', 'lanczos_steps', 'tic_diag', 'tic_trace', 'cabs_num', 'gsnr',
              'eb_snr'):
      if k in raw:
        s[k] = f64(raw[k])
    if plan.alpha:
      s['l1'] = f64(raw['losses1'])[valid]
      s['dl0'], s['dl1'] = f64(raw['dlosses0'])[valid], f64(raw['dlosses1'])[valid]
    if plan.per_example:
      s['sq'], s['dot'] = f64(raw['sq'])[valid], f64(raw['dot'])[valid]
      # From the norms and inner products, as Cockpit's BatchDotGrad: ‖Gᵢ − g‖² and
      # ‖Gᵢ − (Gᵢ·g/‖g‖²) g‖².
      s['csq'] = s['sq'] - 2.0 * s['dot'] + s['gg']
      s['orth'] = s['sq'] - (np.square(s['dot']) / s['gg'] if s['gg'] > 0 else 0.0)
      self._check_independent(s['l0'], f64(raw['losses_single'])[valid],
                              np.finfo(raw['losses0'].dtype).bits)

    notes: dict[str, str] = {}
    scalars: dict[str, float] = {}
    arrays: dict[str, np.ndarray] = {}
    if not valid.any():
      notes['all'] = 'no valid example in the batch'
    for name in self.names:
      q = QUANTITIES[name]
      if q.histogram:
        continue
      with warnings.catch_warnings(), np.errstate(all='ignore'):
        warnings.simplefilter('ignore', RuntimeWarning)
        scalars[name] = q.compute(s, notes)
    for name, key in (('grad_norm', 'grad_sq_leaves'), ('update_size', 'update_sq_leaves'),
                      ('distance', 'dist_sq_leaves')):
      if name in self.names:
        arrays[f'{name}_layers'] = np.sqrt(s[key])
    if 'hess_trace' in self.names:
      arrays['hess_trace_layers'] = np.mean(s['hutchinson_leaves'], axis=0)
    if plan.hist_1d is not None:
      bins, lo, hi = plan.hist_1d
      arrays['grad_hist_1d'] = raw['hist_1d'].astype(np.int64).sum(axis=0)
      arrays['grad_hist_1d_edges'] = np.linspace(lo, hi, bins + 1)
    if plan.hist_2d is not None:
      (nx, ny), (xlo, xhi), (ylo, yhi) = plan.hist_2d
      arrays['grad_hist_2d'] = raw['hist_2d'].astype(np.int64).sum(axis=0).reshape(nx, ny)
      arrays['grad_hist_2d_x_edges'] = np.linspace(xlo, xhi, nx + 1)
      arrays['grad_hist_2d_y_edges'] = np.linspace(ylo, yhi, ny + 1)
    return Observation(scalars, arrays, notes)

  def _check_independent(self, batched: np.ndarray, single: np.ndarray, bits: int) -> None:
    """Per-example gradients are taken one example at a time (a batch of one): that is
    only the gradient of ℓᵢ in the batch if ℓᵢ does not depend on the other examples."""
    both = np.isfinite(batched) & np.isfinite(single)
    batched, single = batched[both], single[both]
    scale = max(1.0, float(np.max(np.abs(batched), initial=0.0)))
    gap = float(np.max(np.abs(batched - single), initial=0.0))
    if not gap <= (1e-3 if bits >= 32 else 5e-2) * scale:  # batched vs single rounding
      raise ValueError(
          f'{self.flag}: the per-example losses depend on the rest of the batch (an '
          f'example\'s loss alone differs from its loss in the batch by {gap:.3g}), e.g. '
          'batch norm with batch statistics; per-example quantities would be wrong. Build '
          'the losses in eval mode (instruments.per_example_loss_fn(workload, model_state) '
          'does).')


def definitions() -> Mapping[str, str]:
  """name -> its definition (the docstring), for docs and meta data."""
  return {name: q.definition for name, q in QUANTITIES.items()}
