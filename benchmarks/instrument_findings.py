r"""What the instruments show on the stored lite_v1 baselines (docs/instrument_findings.md).

Reruns, with instruments on, hyperparameter points of the stored baselines
(`baselines/lite_v1/runs/<algorithm>/.../trial_<i>/hparams.json`, with the trial's own seed,
batch size and eval batch size from its `meta_data_0.json`, so the rerun trains the stored
trajectory again; the script checks that against the stored training loss), and measures:

  stability  SGD, heavy-ball Momentum and Nesterov on noisy_quadratic: the largest Hessian
             eigenvalue λmax (`hess_max_ev`, Lanczos) against the largest curvature the
             step size η_t of each step keeps stable (2/η_t for SGD, 2(1+β)/η_t for
             heavy ball, 2(1+β)/((1+2β)η_t) for Nesterov; computed here from the spectral
             radius of each rule's linear iteration, weight decay included). For each
             algorithm it reruns the largest stored learning rate that trained and the
             smallest that diverged (as the stored trial_summary.json says), and predicts
             every stored point's fate from its peak learning rate. It also compares the
             loss's growth after the crossing with the rate the iteration predicts, and the
             loss before it with the stationary loss of the noisy iteration.
  alpha      tuned NAdamW (the point `benchmarks/calibration/<workload>.json` tuned, found
             among the stored trials) on mnist1d and noisy_quadratic over the whole schedule,
             on char_lm from the GSNR run, and SGD at its fastest stored point on mnist1d
             (run as far as the stored trial ran): Cockpit's normalised step length α.
  gsnr       tuned NAdamW on char_lm: `mean_gsnr`, `grad_norm` and the loss across training
             (the mnist1d and noisy_quadratic NAdamW runs track them too).

η_t is the learning rate the submission uses at step t: the reference algorithms build it with
`reference_algorithms.common.schedules.from_hparams(hp, workload.step_hint)` (linear warmup
to the peak over warmup_factor·step_hint steps, cosine decay to 0 at step_hint), and Optax
evaluates it at the update count, which equals the runner's global step (one update per
step). This script calls the same function; for SGD it checks the result against the
measured ‖θ₁ − θ₀‖/‖g‖.

Figures (matplotlib Figure, Agg) and summary.txt / summary.json go to --output_dir; the
trial logs (instruments.csv etc.) to --work_dir. The summary block is printed at the end.

  python benchmarks/instrument_findings.py             # about 15 min on 2 busy CPU cores
  python benchmarks/instrument_findings.py --work_dir=runs --reuse   # redraw, no training
  python benchmarks/instrument_findings.py --smoke     # tiny runs on noisy_quadratic
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import shutil
import sys
import tempfile
import time

from absl import app, flags
from absl import logging as absl_logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import linalg, stats  # noqa: E402

from algoperf import checkpoint, logs, runner, submission, tuning  # noqa: E402
from algoperf.instruments import log as instrument_log  # noqa: E402
from algoperf.instruments.observer import InstrumentSettings  # noqa: E402
from algoperf.plot_colours import distinct_colours  # noqa: E402
from reference_algorithms.common import schedules  # noqa: E402
from workloads import registry  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Settings:
  """What to run; the command-line flags of the same names (see `_define_flags`)."""
  output_dir: str = os.path.join(ROOT, 'docs', 'figures', 'instrument_findings')
  work_dir: str = ''
  baselines_dir: str = os.path.join(ROOT, 'baselines', 'lite_v1', 'runs')
  calibration_dir: str = os.path.join(ROOT, 'benchmarks', 'calibration')
  stability_algorithms: tuple[str, ...] = ('sgd', 'momentum', 'nesterov')
  stability_workload: str = 'noisy_quadratic'
  stability_steps: int = 0
  stability_every: int = 20
  alpha_workloads: tuple[str, ...] = ('mnist1d', 'noisy_quadratic')
  gsnr_workload: str = 'char_lm'
  steps: int = 0
  tracked: int = 300
  gsnr_every: int = 5
  sgd_alpha_workload: str = 'mnist1d'
  reuse: bool = False

  def smoke(self) -> Settings:
    """Tiny runs on noisy_quadratic only: one Momentum point that trained and one that
    diverged, and tuned NAdamW for α and GSNR, 60 steps each."""
    return dataclasses.replace(
        self, stability_algorithms=('momentum',), stability_steps=self.stability_steps or 60,
        stability_every=10, alpha_workloads=('noisy_quadratic',),
        gsnr_workload='noisy_quadratic', steps=self.steps or 60, tracked=6, gsnr_every=10,
        sgd_alpha_workload='')


_HELP = {
    'output_dir': 'Where the figures and summary.txt / summary.json go.',
    'work_dir': 'Where the rerun trials log (default: a new temp folder).',
    'baselines_dir': 'The stored baselines (runs/<algorithm>/...).',
    'calibration_dir': 'Calibration records: their tuned_hyperparameters name the tuned point.',
    'stability_algorithms': 'Baselines of the stability finding (optax.sgd rules).',
    'stability_workload': 'Workload of the stability runs.',
    'stability_steps': 'Steps per stability run (0: the end of warmup + 1000 steps).',
    'stability_every': 'Track every this many steps (stability runs).',
    'alpha_workloads': 'Workloads of the tuned-NAdamW alpha runs.',
    'gsnr_workload': 'Workload of the tuned-NAdamW GSNR run (its alpha is reported too).',
    'steps': 'Steps of the alpha and GSNR runs (0: the step hint).',
    'tracked': 'About this many tracked steps per alpha run.',
    'gsnr_every': 'Track every this many steps (GSNR run).',
    'sgd_alpha_workload': 'Also α of the stored SGD trial that reached the target first on this '
                          'workload, run as far as the stored trial ran (empty: skip).',
    'reuse': 'Reuse finished reruns of the same settings in --work_dir (redraw figures and '
             'the summary without training again).',
}


def _define_flags() -> None:
  """The flags, defined only when run as a script (importing this module defines none)."""
  defaults = Settings()
  for field in dataclasses.fields(Settings):
    value = getattr(defaults, field.name)
    if isinstance(value, bool):
      flags.DEFINE_bool(field.name, value, _HELP[field.name])
    elif isinstance(value, int):
      flags.DEFINE_integer(field.name, value, _HELP[field.name])
    elif isinstance(value, tuple):
      flags.DEFINE_list(field.name, list(value), _HELP[field.name])
    else:
      flags.DEFINE_string(field.name, value, _HELP[field.name])
  flags.DEFINE_bool('smoke', False, 'Tiny runs on noisy_quadratic only (a quick check).')


DPI = 100
STABILITY_QUANTITIES = 'loss,grad_norm,update_size,hess_max_ev'
RUN_QUANTITIES = 'loss,grad_norm,update_size,alpha,mean_gsnr'
SGD_ALPHA_QUANTITIES = 'loss,grad_norm,update_size,alpha'
BLOW_UP_FACTOR = 10.0  # "diverged": loss above this many times its pre-crossing median
SUMMARY_BEGIN = '==== instrument findings: summary ===='
SUMMARY_END = '==== end of summary ===='


# --- the stored baselines ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StoredTrial:
  """One stored baseline trial: its hyperparameters, outcome and how it was run."""
  algorithm: str
  workload: str
  trial: int
  path: str
  hparams: dict
  status: str
  seed: int
  global_batch_size: int
  eval_batch_size: int
  global_step: int  # where the stored trial stopped
  time_to_target: float | None  # its submission time to the validation target, if reached

  @property
  def label(self) -> str:
    return f'{self.algorithm} η={self.hparams["learning_rate"]:.3g} (trial {self.trial})'


def stored_trials(baselines_dir: str, algorithm: str, workload: str) -> list[StoredTrial]:
  pattern = os.path.join(baselines_dir, algorithm, '*', 'study_0', f'{workload}_jax', 'trial_*')
  trials = []
  for path in sorted(glob.glob(pattern), key=lambda p: int(p.rsplit('_', 1)[1])):
    meta = logs.read_json(os.path.join(path, 'meta_data_0.json'))
    result = logs.read_json(os.path.join(path, 'trial_summary.json'))
    trials.append(StoredTrial(
        algorithm=algorithm, workload=workload, trial=int(path.rsplit('_', 1)[1]), path=path,
        hparams=logs.read_json(os.path.join(path, 'hparams.json')), status=result['status'],
        seed=int(meta['rng_seed']), global_batch_size=int(meta['global_batch_size']),
        eval_batch_size=int(meta['eval_batch_size']), global_step=int(result['global_step']),
        time_to_target=result.get('time_to_validation_target')))
  if not trials:
    raise FileNotFoundError(f'no stored trials match {pattern}')
  return trials


def tuned_trial(baselines_dir: str, calibration_dir: str, workload: str,
                algorithm: str = 'nadamw') -> StoredTrial:
  """The stored trial whose hparams.json is the point calibration tuned for `workload`."""
  tuned = logs.read_json(os.path.join(calibration_dir, f'{workload}.json'))[
      'tuned_hyperparameters']
  for trial in stored_trials(baselines_dir, algorithm, workload):
    if trial.hparams == tuned:
      return trial
  raise LookupError(f'{workload}: no stored {algorithm} trial has the tuned point {tuned}')


def fastest_trial(baselines_dir: str, algorithm: str, workload: str) -> StoredTrial | None:
  """The stored trial that reached the validation target first (the study's best), if any."""
  reached = [t for t in stored_trials(baselines_dir, algorithm, workload)
             if t.time_to_target is not None]
  return min(reached, key=lambda t: t.time_to_target) if reached else None


def stored_losses(trial: StoredTrial) -> pd.DataFrame:
  """The training loss the stored run logged (every 100 steps), by step."""
  rows = pd.read_csv(os.path.join(trial.path, 'measurements.csv'))
  rows = rows[rows['score'].isna()]  # the eval rows have a score
  return rows[['global_step', 'loss']].reset_index(drop=True)


# --- reruns --------------------------------------------------------------------------------


def learning_rates(hparams: dict, step_hint: int, steps) -> np.ndarray:
  """η_t at each of `steps`: the submission's own schedule function, evaluated on the array
  of update counts at once (Optax schedules are elementwise jnp functions)."""
  schedule = schedules.from_hparams(tuning.hparams_from_dict(hparams), step_hint)
  steps = np.asarray(steps, dtype=np.int64).reshape(-1)
  # Padded to a power of two, so JAX compiles the schedule's ops for a few shapes only.
  padded = np.zeros(max(1024, 1 << int(math.ceil(math.log2(max(1, steps.size))))), np.int32)
  padded[:steps.size] = steps
  return np.asarray(schedule(jnp.asarray(padded)), dtype=np.float64)[:steps.size]


@dataclasses.dataclass
class Rerun:
  stored: StoredTrial
  log_dir: str
  status: str
  steps: int
  wall_sec: float
  step_hint: int
  scalars: pd.DataFrame
  reused: bool = False

  def learning_rate(self, steps) -> np.ndarray:
    """η_t as the submission builds it (see the module docstring)."""
    return learning_rates(self.stored.hparams, self.step_hint, steps)

  @property
  def warmup_steps(self) -> int:
    return schedules.warmup_steps(self.stored.hparams['warmup_factor'], self.step_hint)


RUN_RECORD = 'instrument_findings_run.json'  # in each trial folder: what ran, how long


def rerun(stored: StoredTrial, quantities: str, steps: int, every: int, work_dir: str,
          reuse: bool = False) -> Rerun:
  """Train the stored point again (same seed, batch sizes) with the instruments on; with
  `reuse`, read a finished rerun of the same settings from `work_dir` instead."""
  log_dir = os.path.join(work_dir, f'{stored.workload}_{stored.algorithm}_trial_{stored.trial}')
  settings = {'hparams': stored.hparams, 'seed': stored.seed, 'quantities': quantities,
              'steps': steps, 'every': every}
  record_path = os.path.join(log_dir, RUN_RECORD)
  if reuse and os.path.isfile(record_path):
    record = logs.read_json(record_path)
    if record['settings'] == settings:
      print(f'reusing {log_dir} ({record["status"]}, {record["steps"]} steps, ran '
            f'{record["wall_sec"]:.0f} s)', flush=True)
      return Rerun(stored=stored, log_dir=log_dir, status=record['status'],
                   steps=record['steps'], wall_sec=record['wall_sec'],
                   step_hint=record['step_hint'],
                   scalars=instrument_log.load(log_dir).scalars, reused=True)
  if os.path.isdir(log_dir):
    shutil.rmtree(log_dir)  # A fresh trial, not a resume of an older one.
  sub = submission.load_submission(
      os.path.join(ROOT, 'reference_algorithms', stored.algorithm, 'submission.py'))
  workload = registry.get_workload(stored.workload)
  start = time.perf_counter()
  print(f'[{time.strftime("%H:%M:%S")}] {stored.workload}: {stored.label}, {steps} steps, '
        f'{quantities} every {every} -> {log_dir}', flush=True)
  try:
    result = runner.run_trial(runner.TrialConfig(
        workload=workload, workload_name=stored.workload, submission=sub,
        hyperparameters=tuning.hparams_from_dict(stored.hparams), seed=stored.seed,
        global_batch_size=stored.global_batch_size, eval_batch_size=stored.eval_batch_size,
        budget_sec=1e9, log_dir=log_dir, max_global_steps=steps, save_checkpoints=False,
        show_progress=False, stop_at_targets=False,
        observers=(InstrumentSettings(quantities=quantities, schedule=f'linear:{every}',
                                      dashboard=False),)))
  finally:
    sub.unload()
  shutil.rmtree(os.path.join(log_dir, checkpoint.CHECKPOINT_SUBDIR), ignore_errors=True)
  wall = time.perf_counter() - start
  print(f'    {result.status} after {result.global_step} steps, {wall:.0f} s', flush=True)
  logs.write_json(record_path, {'settings': settings, 'status': result.status,
                                'steps': result.global_step, 'wall_sec': wall,
                                'step_hint': int(workload.step_hint)})
  return Rerun(stored=stored, log_dir=log_dir, status=result.status, steps=result.global_step,
               wall_sec=wall, step_hint=int(workload.step_hint),
               scalars=instrument_log.load(log_dir).scalars)


def reproduction_check(run: Rerun) -> dict:
  """The rerun's instrument loss (θ₀, the training batch) against the stored run's logged
  training loss at the steps both have: equal when the training loss has no label smoothing
  or dropout (the instruments evaluate the plain loss in eval mode)."""
  hp = run.stored.hparams
  if hp.get('label_smoothing', 0.0) or hp.get('dropout_rate', 0.0):
    return {'compared_steps': 0, 'note': 'not comparable: the stored training loss has '
            f'label_smoothing={hp.get("label_smoothing")}, dropout={hp.get("dropout_rate")}'}
  merged = run.scalars[['global_step', 'loss']].merge(
      stored_losses(run.stored), on='global_step', suffixes=('_rerun', '_stored'))
  finite = merged[np.isfinite(merged['loss_rerun']) & np.isfinite(merged['loss_stored'])]
  if finite.empty:
    return {'compared_steps': 0, 'note': 'no common finite steps'}
  rel = (finite['loss_rerun'] - finite['loss_stored']).abs() / finite['loss_stored'].abs()
  return {'compared_steps': int(len(finite)), 'max_rel_diff': float(rel.max())}


# --- stability of the linear iteration -----------------------------------------------------


def iteration_matrix(rule: str, eta: float, lam: float, beta: float, wd: float) -> np.ndarray:
  """The update of the playbook rule on a 1-D quadratic ½λx² (state (x, v)), with the
  decoupled weight decay θ ← θ − η·wd·θ applied after it (transforms.decoupled_weight_decay).

  optax.sgd: v' = βv + g;  heavy ball: x' = x − ηv';  Nesterov: x' = x − η(βv' + g).
  """
  if rule == 'sgd':
    return np.array([[1.0 - eta * lam - eta * wd]])
  if rule == 'momentum':
    return np.array([[1.0 - eta * lam - eta * wd, -eta * beta], [lam, beta]])
  if rule == 'nesterov':
    return np.array([[1.0 - eta * lam * (1 + beta) - eta * wd, -eta * beta**2], [lam, beta]])
  raise ValueError(f'no linear iteration for {rule!r}')


def noise_input(rule: str, eta: float, beta: float) -> np.ndarray:
  """How gradient noise n (g = λx + n) enters the state (x, v) of `iteration_matrix`."""
  if rule == 'sgd':
    return np.array([-eta])
  if rule == 'momentum':
    return np.array([-eta, 1.0])
  if rule == 'nesterov':
    return np.array([-eta * (1 + beta), 1.0])
  raise ValueError(rule)


def stationary_loss(rule: str, eta: float, eigenvalues: np.ndarray, beta: float, wd: float,
                    noise_var: float, floor: float) -> float:
  """E[loss] once the iteration is stationary on the noisy quadratic: the floor ½σ²·tr H plus
  ½λᵢ·Var(xᵢ) per eigen-direction, with gradient noise nᵢ = λᵢ·x̄ᵢ, Var x̄ᵢ = σ²/B
  (stationary covariance from the discrete Lyapunov equation P = MPMᵀ + bbᵀ·Var nᵢ)."""
  excess = 0.0
  for lam in eigenvalues:
    m = iteration_matrix(rule, eta, lam, beta, wd)
    if np.max(np.abs(np.linalg.eigvals(m))) >= 1.0:
      return float('inf')
    b = noise_input(rule, eta, beta)[:, None]
    cov = linalg.solve_discrete_lyapunov(m, b @ b.T * lam**2 * noise_var)
    excess += 0.5 * lam * cov[0, 0]
  return floor + float(excess)


def spectral_radius(rule, eta, lam, beta, wd) -> float:
  return float(np.max(np.abs(np.linalg.eigvals(iteration_matrix(rule, eta, lam, beta, wd)))))


def largest_stable(rule: str, lam: float | None, eta: float | None, beta: float, wd: float,
                   tol: float = 1e-10) -> float:
  """Bisection for the largest η (given λ) or the largest λ (given η) with spectral radius
  ≤ 1: the stability edge of the iteration, from its matrix rather than a formula."""
  def unstable(x):
    return spectral_radius(rule, x if eta is None else eta, x if lam is None else lam,
                           beta, wd) > 1.0 + 1e-12
  lo, hi = 0.0, 1.0
  while not unstable(hi):
    lo, hi = hi, 2 * hi
  while hi - lo > tol * hi:
    mid = 0.5 * (lo + hi)
    lo, hi = (lo, mid) if unstable(mid) else (mid, hi)
  return lo


CLOSED_FORM = {  # largest stable η·λ without weight decay (the doc cites where each is from)
    'sgd': lambda beta: 2.0,
    'momentum': lambda beta: 2.0 * (1 + beta),
    'nesterov': lambda beta: 2.0 * (1 + beta) / (1 + 2 * beta),
}
CLOSED_FORM_TEXT = {'sgd': '2', 'momentum': '2(1+β)', 'nesterov': '2(1+β)/(1+2β)'}


def rule_params(hp: dict) -> tuple[float, float]:
  return 1.0 - hp.get('one_minus_beta1', 1.0), float(hp.get('weight_decay', 0.0))


# --- finding 1: stability ------------------------------------------------------------------


def stability_runs_to_do(baselines_dir, algorithms, workload) -> list[StoredTrial]:
  """Per algorithm: the largest stored learning rate that did not diverge and the smallest
  that did (either may not exist)."""
  chosen = []
  for algorithm in algorithms:
    trials = stored_trials(baselines_dir, algorithm, workload)
    ok = [t for t in trials if t.status != runner.DIVERGED]
    bad = [t for t in trials if t.status == runner.DIVERGED]
    if ok:
      chosen.append(max(ok, key=lambda t: t.hparams['learning_rate']))
    if bad:
      chosen.append(min(bad, key=lambda t: t.hparams['learning_rate']))
  return chosen


def analyse_stability(run: Rerun, lam: float, eigenvalues: np.ndarray, noise_std: float,
                      floor: float) -> dict:
  """When η_t crosses the edge η*, when the loss leaves its floor, and whether it then grows
  at the rate the linear iteration predicts (loss ∝ amplitude², so 2·log10 ρ per step)."""
  rule = run.stored.algorithm
  beta, wd = rule_params(run.stored.hparams)
  eta_star = largest_stable(rule, lam=lam, eta=None, beta=beta, wd=wd)
  etas = run.learning_rate(np.arange(run.steps))
  over = np.nonzero(etas > eta_star)[0]
  crossing = int(over[0]) if over.size else None
  s = run.scalars
  tracked = s['global_step'].to_numpy()
  loss = s['loss'].to_numpy()
  finite = np.isfinite(loss)
  edge = crossing if crossing is not None else run.steps
  reference = float(np.median(loss[finite & (tracked < edge)]))
  blown = (~finite) | (loss > BLOW_UP_FACTOR * reference)
  blow_up = int(tracked[blown][0]) if blown.any() else None
  first_nonfinite = int(tracked[~finite][0]) if (~finite).any() else None

  def log10_growth(start, stop):  # predicted log10 growth of the top mode's amplitude
    return float(sum(np.log10(spectral_radius(rule, etas[t], lam, beta, wd))
                     for t in range(start, stop)))

  warm = run.warmup_steps
  early = finite & (tracked >= 0.1 * warm) & (tracked < 0.2 * warm)
  near = finite & (tracked >= edge - 500) & (tracked < edge)
  noise_var = noise_std**2 / run.stored.global_batch_size

  def predicted_median(mask):  # the stationary E[loss] at each tracked step's η_t
    return float(np.median([stationary_loss(rule, etas[t], eigenvalues, beta, wd, noise_var,
                                            floor) for t in tracked[mask]]))
  out = {
      'trial': run.stored.label, 'rule': rule, 'beta': beta, 'weight_decay': wd,
      'peak_lr': run.stored.hparams['learning_rate'], 'warmup_steps': warm,
      'peak_over_eta_star': run.stored.hparams['learning_rate'] / eta_star,
      'stored_status': run.stored.status, 'rerun_status': run.status, 'steps': run.steps,
      'eta_star': eta_star, 'crossing_step': crossing, 'loss_reference': reference,
      'loss_median_early_warmup': float(np.median(loss[early])) if early.any() else None,
      'loss_median_500_steps_before_edge_or_end': (float(np.median(loss[near]))
                                                   if near.any() else None),
      'predicted_stationary_loss_early_warmup': predicted_median(early) if early.any() else None,
      'predicted_stationary_loss_500_steps_before_edge_or_end': (
          predicted_median(near) if near.any() else None),
      'blow_up_step': blow_up, 'first_nonfinite_step': first_nonfinite,
      'amplitude_growth_log10_crossing_to_nonfinite': (
          log10_growth(crossing, first_nonfinite)
          if crossing is not None and first_nonfinite is not None else None),
      'reproduction': reproduction_check(run), 'wall_sec': run.wall_sec}
  stored = stored_losses(run.stored)
  stored_bad = stored[~np.isfinite(stored['loss'])]
  out['stored_first_nonfinite_logged_step'] = (int(stored_bad['global_step'].iloc[0])
                                               if len(stored_bad) else None)
  # Where the top mode dominates the loss (> 100× its floor) and the loss is still finite.
  window = np.nonzero(finite & (loss > 100 * reference))[0]
  if window.size >= 2:
    i, j = window[0], window[-1]
    steps = int(tracked[j] - tracked[i])
    out['growth_window'] = [int(tracked[i]), int(tracked[j])]
    out['loss_growth_log10_per_step_measured'] = float(
        (np.log10(loss[j]) - np.log10(loss[i])) / steps)
    out['loss_growth_log10_per_step_predicted'] = 2 * log10_growth(
        int(tracked[i]), int(tracked[j])) / steps
  return out


def sgd_learning_rate_check(run: Rerun) -> dict:
  """For SGD the step is η_t(g + wd·θ₀): ‖θ₁ − θ₀‖/‖g‖ is η_t up to the decay term."""
  s = run.scalars
  keep = (np.isfinite(s['update_size']) & np.isfinite(s['grad_norm']) & (s['global_step'] > 0)
          & (s['grad_norm'] > 0))
  measured = (s['update_size'] / s['grad_norm'])[keep].to_numpy()
  scheduled = run.learning_rate(s['global_step'][keep])
  rel = np.abs(measured - scheduled) / scheduled
  return {'steps_compared': int(keep.sum()), 'max_rel_diff': float(rel.max()),
          'median_rel_diff': float(np.median(rel))}


def stored_point_predictions(baselines_dir, algorithms, workload, lam) -> list[dict]:
  """Every stored point: does its peak learning rate pass the stability edge, and at which
  step does warmup cross it, against what the stored run did (no rerun needed)."""
  rows = []
  for algorithm in algorithms:
    for trial in stored_trials(baselines_dir, algorithm, workload):
      beta, wd = rule_params(trial.hparams)
      eta_star = largest_stable(algorithm, lam=lam, eta=None, beta=beta, wd=wd)
      peak = trial.hparams['learning_rate']
      step_hint = int(registry.workload_class(workload).STEP_HINT)
      warmup = schedules.warmup_steps(trial.hparams['warmup_factor'], step_hint)
      over = np.nonzero(learning_rates(trial.hparams, step_hint, np.arange(warmup + 1))
                        > eta_star)[0]
      crossing = int(over[0]) if over.size else None
      stored = stored_losses(trial)
      bad = stored[~np.isfinite(stored['loss'])]
      rows.append({
          'algorithm': algorithm, 'trial': trial.trial, 'peak_lr': peak, 'eta_star': eta_star,
          'predicted_diverge': bool(peak > eta_star), 'stored_status': trial.status,
          'agrees': bool(peak > eta_star) == (trial.status == runner.DIVERGED),
          'predicted_crossing_step': crossing,
          'stored_first_nonfinite_logged_step': (int(bad['global_step'].iloc[0])
                                                 if len(bad) else None)})
  return rows


def stability_figure(runs: list[Rerun], results: list[dict], lam_true: float, floor: float,
                     path: str) -> None:
  lam_colour, edge_colour, loss_colour = distinct_colours(3)
  fig = Figure(figsize=(3.0 * len(runs), 5.6))
  axes = fig.subplots(2, len(runs), squeeze=False, sharex='col')
  for k, (run, res) in enumerate(zip(runs, results, strict=True)):
    s = run.scalars
    top, bottom = axes[0, k], axes[1, k]
    steps = np.arange(1, run.steps)
    # The largest stable curvature at η_t: (η*·λmax)/η_t, the edge in ηλ over η_t.
    edge = res['eta_star'] * res['lambda_max_measured'] / run.learning_rate(steps)
    top.plot(steps, edge, color=edge_colour, lw=1.5,
             label=f'{CLOSED_FORM_TEXT[res["rule"]]}/η_t')
    top.plot(s['global_step'], s['hess_max_ev'], '.', ms=2.5, color=lam_colour,
             label='λmax (hess_max_ev)')
    top.axhline(lam_true, color='0.3', lw=0.6, ls=':', label=f'λmax of H: {lam_true:.2f}')
    top.set_yscale('log')
    top.set_ylim(lam_true / 8, lam_true * 30)
    top.set_title(f'{run.stored.algorithm} η={res["peak_lr"]:g} (β={res["beta"]:g})\n'
                  f'stored: {run.stored.status}', fontsize=9)
    top.legend(fontsize=6, loc='upper right')
    loss = s['loss'].where(np.isfinite(s['loss']))
    bottom.plot(s['global_step'], loss, color=loss_colour, lw=0.8)
    bottom.axhline(floor, color='0.3', lw=0.6, ls=':', label='E[loss] at the optimum')
    bottom.set_yscale('log')
    bottom.set_ylim(floor * 0.8, floor * 1e4)  # the blow-up leaves the axes upwards
    for ax in (top, bottom):
      if res['crossing_step'] is not None:
        ax.axvline(res['crossing_step'], color='k', lw=0.8, ls='--')
      if res['blow_up_step'] is not None:
        ax.axvline(res['blow_up_step'], color='tab:red', lw=0.8)
      ax.tick_params(labelsize=7)
    if res['first_nonfinite_step'] is not None:
      bottom.text(0.03, 0.96, f'non-finite from\nstep {res["first_nonfinite_step"]}',
                  transform=bottom.transAxes, fontsize=7, va='top')
    bottom.set_xlabel('step', fontsize=8)
    if k == 0:
      top.set_ylabel('curvature', fontsize=8)
      bottom.set_ylabel('mini-batch loss', fontsize=8)
      bottom.legend(fontsize=6, loc='center left')
  fig.suptitle('noisy_quadratic: measured λmax against the largest curvature η_t keeps stable\n'
               'dashed: η_t crosses the edge; red: loss > 10× its median before the crossing',
               fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)


# --- finding 2: alpha ----------------------------------------------------------------------


def _spearman(x, y) -> tuple[float, float]:
  result = stats.spearmanr(x, y)
  return float(result.statistic), float(result.pvalue)


def analyse_alpha(run: Rerun) -> dict:
  s = run.scalars
  keep = np.isfinite(s['alpha'])
  a = s['alpha'][keep].to_numpy()
  steps = s['global_step'][keep].to_numpy()
  etas = run.learning_rate(steps)
  warm = run.warmup_steps
  mid = warm + (run.step_hint - warm) // 2
  phases = {'warmup': steps < warm, 'decay_first_half': (steps >= warm) & (steps < mid),
            'decay_second_half': steps >= mid}
  last = a[-max(1, len(a) // 10):]
  out = {
      'trial': run.stored.label, 'hparams': run.stored.hparams, 'steps': run.steps,
      'step_hint': run.step_hint, 'tracked_finite': int(keep.sum()),
      'tracked_nan': int((~keep).sum()), 'fraction_positive': float(np.mean(a > 0)),
      'median': float(np.median(a)), 'mean': float(np.mean(a)),
      'quartiles': [float(np.quantile(a, 0.25)), float(np.quantile(a, 0.75))],
      'fraction_concave_fit': float(np.mean(a == -1.0)),
      'mean_last_10pct': float(np.mean(last)),
      'fraction_positive_last_10pct': float(np.mean(last > 0)),
      'phases': {name: {'n': int(m.sum()),
                        'median': float(np.median(a[m])) if m.any() else None,
                        'fraction_positive': float(np.mean(a[m] > 0)) if m.any() else None}
                 for name, m in phases.items()},
      'wall_sec': run.wall_sec, 'reproduction': reproduction_check(run)}
  if len(a) > 2:
    out['spearman_vs_step'] = _spearman(steps, a)
    out['spearman_vs_learning_rate'] = _spearman(etas, a)
  return out


def alpha_figure(runs: list[Rerun], results: list[dict], path: str) -> None:
  all_colour, last_colour, lr_colour = distinct_colours(3)
  fig = Figure(figsize=(10, 2.5 * len(runs)))
  axes = fig.subplots(len(runs), 2, squeeze=False)
  for k, (run, res) in enumerate(zip(runs, results, strict=True)):
    s = run.scalars
    keep = np.isfinite(s['alpha'])
    a, steps = s['alpha'][keep].to_numpy(), s['global_step'][keep].to_numpy()
    hist, trend = axes[k]
    bins = np.linspace(-1.5, 1.5, 61)
    clipped = np.clip(a, -1.5, 1.5)
    hist.hist(clipped, bins=bins, color=all_colour, alpha=0.6, density=True,
              label=f'all tracked steps (mean {res["mean"]:.2f})')
    hist.hist(clipped[-max(1, len(a) // 10):], bins=bins, color=last_colour, alpha=0.5,
              density=True, label=f'last 10% (mean {res["mean_last_10pct"]:.2f})')
    hist.axvline(0, color='k', lw=0.8)
    hist.set_title(f'{run.stored.workload}: {run.stored.label}, {run.steps} steps; '
                   f'{100 * res["fraction_positive"]:.1f}% of α > 0', fontsize=9)
    hist.set_xlabel('α (clipped to ±1.5)', fontsize=8)
    hist.legend(fontsize=7)
    trend.plot(steps, a, '.', ms=2.5, color=all_colour)
    if len(a) >= 5:
      window = max(3, len(a) // 15)
      trend.plot(steps, pd.Series(a).rolling(window, center=True, min_periods=1).median(),
                 color='k', lw=1.2, label=f'running median ({window} points)')
      trend.legend(fontsize=7, loc='lower left')
    trend.axhline(0, color='k', lw=0.6, ls=':')
    trend.set_ylim(-1.6, 1.6)
    trend.set_xlabel('step', fontsize=8)
    trend.set_ylabel('α', fontsize=8)
    lr = trend.twinx()
    grid = np.linspace(0, run.steps - 1, 400).astype(int)
    lr.plot(grid, run.learning_rate(grid), color=lr_colour, lw=1.0)
    lr.set_ylim(bottom=0)
    lr.set_ylabel('η_t', fontsize=8, color=lr_colour)
    for ax in (hist, trend, lr):
      ax.tick_params(labelsize=7)
    trend.xaxis.set_major_locator(ticker.MaxNLocator(5))
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)


# --- finding 3: GSNR -----------------------------------------------------------------------


def analyse_gsnr(run: Rerun) -> dict:
  s = run.scalars
  keep = np.isfinite(s['mean_gsnr'])
  g = s['mean_gsnr'][keep].to_numpy()
  steps = s['global_step'][keep].to_numpy()
  tenth = max(1, len(g) // 10)
  batch = run.stored.global_batch_size
  floor = 1.0 / (batch - 1)
  out = {
      'trial': run.stored.label, 'workload': run.stored.workload, 'steps': run.steps,
      'tracked': int(keep.sum()), 'batch_size': batch,
      'at_step_0': float(g[0]) if steps[0] == 0 else None,
      'max': float(g.max()), 'argmax_step': int(steps[g.argmax()]),
      'min': float(g.min()), 'argmin_step': int(steps[g.argmin()]),
      'median_first_10pct': float(np.median(g[:tenth])),
      'median_last_10pct': float(np.median(g[-tenth:])),
      'pure_noise_level_1_over_B_minus_1': floor,
      'fraction_below_pure_noise_level': float(np.mean(g < floor)),
      'loss_first': float(s['loss'][keep].iloc[0]), 'loss_last': float(s['loss'][keep].iloc[-1]),
      'grad_norm_first': float(s['grad_norm'][keep].iloc[0]),
      'grad_norm_median_last_10pct': float(np.median(s['grad_norm'][keep].to_numpy()[-tenth:])),
      'wall_sec': run.wall_sec}
  if len(g) > 2:
    out['spearman_vs_step'] = _spearman(steps, g)
    out['spearman_vs_step_after_first_10pct'] = _spearman(steps[tenth:], g[tenth:])
    out['spearman_vs_grad_norm'] = _spearman(s['grad_norm'][keep], g)
  return out


def gsnr_figure(runs: list[Rerun], results: list[dict], path: str) -> None:
  gsnr_colour, norm_colour, loss_colour = distinct_colours(3)
  fig = Figure(figsize=(4.0 * len(runs), 5.2))
  axes = fig.subplots(2, len(runs), squeeze=False, sharex='col')
  for k, (run, res) in enumerate(zip(runs, results, strict=True)):
    s = run.scalars
    top, bottom = axes[0, k], axes[1, k]
    top.plot(s['global_step'], s['mean_gsnr'], '.', ms=2.5, color=gsnr_colour)
    if len(s) >= 5:
      window = max(3, len(s) // 15)
      top.plot(s['global_step'],
               s['mean_gsnr'].rolling(window, center=True, min_periods=1).median(),
               color='k', lw=1.0, label=f'running median ({window} points)')
    top.axhline(res['pure_noise_level_1_over_B_minus_1'], color='0.3', ls=':', lw=0.8,
                label=f'1/(B−1), B={res["batch_size"]}')
    top.set_yscale('log')
    top.set_title(f'{run.stored.workload}: {run.stored.label}', fontsize=9)
    top.legend(fontsize=7)
    bottom.plot(s['global_step'], s['grad_norm'], color=norm_colour, lw=0.8)
    bottom.set_yscale('log')
    loss_ax = bottom.twinx()
    loss_ax.plot(s['global_step'], s['loss'], color=loss_colour, lw=0.9)
    loss_ax.set_ylabel('loss', fontsize=8, color=loss_colour)
    bottom.set_ylabel('‖g‖ (grad_norm)', fontsize=8, color=norm_colour)
    bottom.set_xlabel('step', fontsize=8)
    bottom.xaxis.set_major_locator(ticker.MaxNLocator(4))
    if k == 0:
      top.set_ylabel('mean GSNR', fontsize=8)
    for ax in (top, bottom, loss_ax):
      ax.tick_params(labelsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)


# --- summary -------------------------------------------------------------------------------


def _fmt(x, digits=4):
  if x is None:
    return '—'
  if isinstance(x, float):
    return f'{x:.{digits}g}'
  return str(x)


def summary_lines(summary: dict) -> list[str]:
  out = [SUMMARY_BEGIN, f'command: {summary["command"]}',
         f'wall time: {summary["wall_sec"]:.0f} s this invocation; the reruns took '
         f'{summary["reruns_wall_sec"]:.0f} s to train ({summary["reused"]} reused)']
  st = summary['stability']
  out.append(f'[stability] workload {st["workload"]}: λmax measured (median of '
             f'{st["lambda_max_tracked"]} finite tracked steps) {st["lambda_max_measured"]:.6g}'
             f' (spread {st["lambda_max_spread"]:.2g}), true λmax of H {st["lambda_max_true"]:.6g}'
             f', rel. error {st["lambda_max_rel_error"]:.2g}; E[loss] at the optimum ½σ²·tr H = '
             f'{st["loss_floor"]:.4g}')
  if st.get('sgd_learning_rate_check'):
    c = st['sgd_learning_rate_check']
    out.append(f'[stability] SGD ‖θ₁−θ₀‖/‖g‖ vs scheduled η_t: {c["steps_compared"]} steps, '
               f'max rel. diff {c["max_rel_diff"]:.2g}, median {c["median_rel_diff"]:.2g}')
  for rule, edge in st['edges'].items():
    out.append(f'[stability] {rule}: edge ηλ < {edge["closed_form_text"]} = '
               f'{edge["closed_form"]:.6g} (closed form, β={edge["beta"]:g}); '
               f'from the iteration matrix with wd={edge["weight_decay"]:g}: η* = '
               f'{edge["eta_star"]:.6g}, η*·λmax = {edge["eta_star_times_lambda"]:.6g}')
  for r in st['runs']:
    rep = r['reproduction']
    rep_text = (f'rerun loss = stored loss at {rep["compared_steps"]} steps '
                f'(max rel. diff {rep["max_rel_diff"]:.2g})' if rep.get('compared_steps')
                else rep.get('note', ''))
    growth = ''
    if 'growth_window' in r:
      growth = (f'; loss growth over steps {r["growth_window"][0]}-{r["growth_window"][1]}: '
                f'measured {r["loss_growth_log10_per_step_measured"]:.4f} decades/step, '
                f'predicted 2·log10 ρ {r["loss_growth_log10_per_step_predicted"]:.4f}')
    out.append(f'[stability] {r["trial"]}: stored {r["stored_status"]}, rerun '
               f'{r["rerun_status"]} ({r["steps"]} steps); η*={r["eta_star"]:.5g}, peak η/η* '
               f'{r["peak_over_eta_star"]:.3g}, warmup {r["warmup_steps"]} steps; η_t crosses η* '
               f'at step {_fmt(r["crossing_step"])}; median loss before it '
               f'{r["loss_reference"]:.4g}; median loss in early warmup (steps 0.1-0.2 of '
               f'warmup) {_fmt(r["loss_median_early_warmup"])}, predicted stationary '
               f'{_fmt(r["predicted_stationary_loss_early_warmup"])}; in the last 500 steps '
               f'before the edge/end {_fmt(r["loss_median_500_steps_before_edge_or_end"])}, '
               f'predicted {_fmt(r["predicted_stationary_loss_500_steps_before_edge_or_end"])}'
               f'; loss > '
               f'{BLOW_UP_FACTOR:g}× the median before the crossing at tracked step '
               f'{_fmt(r["blow_up_step"])}; first '
               f'non-finite tracked step {_fmt(r["first_nonfinite_step"])} (stored log, every '
               f'100 steps: {_fmt(r["stored_first_nonfinite_logged_step"])}); predicted top-mode '
               f'amplitude growth crossing -> non-finite 10^'
               f'{_fmt(r["amplitude_growth_log10_crossing_to_nonfinite"], 3)}{growth}; {rep_text}')
  agree = sum(p['agrees'] for p in st['stored_points'])
  out.append(f'[stability] all stored points: peak η > η* predicts divergence; agrees with '
             f'the stored status for {agree}/{len(st["stored_points"])}')
  for p in st['stored_points']:
    out.append(f'[stability]   {p["algorithm"]} trial {p["trial"]} η={p["peak_lr"]:g}: '
               f'η*={p["eta_star"]:.4g} (η/η* {p["peak_lr"] / p["eta_star"]:.3g}), predicted {"diverge" if p["predicted_diverge"] else "stable"}'
               f', stored {p["stored_status"]}; predicted crossing step '
               f'{_fmt(p["predicted_crossing_step"])}, stored first non-finite logged step '
               f'{_fmt(p["stored_first_nonfinite_logged_step"])}')
  for r in summary['alpha']:
    ph = '; '.join(f'{name} n={v["n"]} median {_fmt(v["median"], 3)} >0: '
                   f'{_fmt(v["fraction_positive"], 3)}' for name, v in r['phases'].items())
    sp = r.get('spearman_vs_step', (float('nan'), float('nan')))
    sl = r.get('spearman_vs_learning_rate', (float('nan'), float('nan')))
    out.append(f'[alpha] {r["workload"]}: {r["trial"]}, {r["steps"]} steps (step hint '
               f'{r["step_hint"]}), {r["tracked_finite"]} finite α ({r["tracked_nan"]} NaN): '
               f'fraction α>0 {r["fraction_positive"]:.3f}, median {r["median"]:.3f}, mean '
               f'{r["mean"]:.3f}, IQR [{r["quartiles"][0]:.3f}, {r["quartiles"][1]:.3f}], '
               f'concave fits (α=−1) {r["fraction_concave_fit"]:.3f}; last 10%: mean '
               f'{r["mean_last_10pct"]:.3f}, α>0 {r["fraction_positive_last_10pct"]:.3f}; '
               f'Spearman vs step {sp[0]:.3f} (p={sp[1]:.2g}), vs η_t {sl[0]:.3f} '
               f'(p={sl[1]:.2g}); {ph}')
  for r in summary['gsnr']:
    sp = r.get('spearman_vs_step', (float('nan'),) * 2)
    sl = r.get('spearman_vs_step_after_first_10pct', (float('nan'),) * 2)
    sg = r.get('spearman_vs_grad_norm', (float('nan'),) * 2)
    out.append(f'[gsnr] {r["workload"]}: {r["trial"]}, {r["steps"]} steps, {r["tracked"]} '
               f'tracked, B={r["batch_size"]}: mean_gsnr at step 0 {_fmt(r["at_step_0"])}, '
               f'max {r["max"]:.4g} (step {r["argmax_step"]}), min {r["min"]:.4g} (step '
               f'{r["argmin_step"]}); median first 10% {r["median_first_10pct"]:.4g}, last '
               f'10% {r["median_last_10pct"]:.4g}; 1/(B−1) = '
               f'{r["pure_noise_level_1_over_B_minus_1"]:.4g}, fraction below it '
               f'{r["fraction_below_pure_noise_level"]:.3f}; Spearman vs step {sp[0]:.3f} '
               f'(p={sp[1]:.2g}), after the first 10% {sl[0]:.3f} (p={sl[1]:.2g}), vs '
               f'grad_norm {sg[0]:.3f} (p={sg[1]:.2g}); loss {r["loss_first"]:.4g} -> '
               f'{r["loss_last"]:.4g}, grad_norm {r["grad_norm_first"]:.4g} -> median last 10% '
               f'{r["grad_norm_median_last_10pct"]:.4g}')
  out.append(f'figures: {", ".join(summary["figures"])}')
  out.append(SUMMARY_END)
  return out


# --- main ----------------------------------------------------------------------------------


def run_all(settings: Settings, command: str = '') -> dict:
  """Run the three findings; write the figures, summary.txt and summary.json; print the
  summary block; return the summary."""
  start = time.perf_counter()
  cfg = settings
  output_dir = os.path.abspath(cfg.output_dir)
  work_dir = cfg.work_dir or tempfile.mkdtemp(prefix='instrument_findings_')
  os.makedirs(work_dir, exist_ok=True)
  print(f'trial logs: {work_dir}', flush=True)
  os.makedirs(output_dir, exist_ok=True)
  figures = []

  # 1. Stability.
  workload_name = cfg.stability_workload
  workload = registry.get_workload(workload_name)
  lam_true = float(np.max(workload.eigenvalues))
  floor = float(workload.expected_optimal_loss)
  runs = []
  for stored in stability_runs_to_do(cfg.baselines_dir, cfg.stability_algorithms,
                                     workload_name):
    warmup = schedules.warmup_steps(stored.hparams['warmup_factor'], workload.step_hint)
    steps = cfg.stability_steps or warmup + 1000
    runs.append(rerun(stored, STABILITY_QUANTITIES, steps, cfg.stability_every, work_dir,
                      cfg.reuse))
  lam_values = np.concatenate([r.scalars['hess_max_ev'][np.isfinite(r.scalars['loss'])]
                               .to_numpy() for r in runs])
  lam = float(np.median(lam_values))
  eigenvalues = np.asarray(workload.eigenvalues, np.float64)
  results = [analyse_stability(r, lam, eigenvalues, float(workload.NOISE_STD), floor)
             for r in runs]
  for res in results:
    res['lambda_max_measured'] = lam
  edges = {}
  for r in runs:
    beta, wd = rule_params(r.stored.hparams)
    eta_star = largest_stable(r.stored.algorithm, lam=lam, eta=None, beta=beta, wd=wd)
    edges[r.stored.algorithm] = {
        'beta': beta, 'weight_decay': wd,
        'closed_form_text': CLOSED_FORM_TEXT[r.stored.algorithm],
        'closed_form': CLOSED_FORM[r.stored.algorithm](beta),
        'eta_star': eta_star, 'eta_star_times_lambda': eta_star * lam,
        'closed_form_without_decay_numeric': largest_stable(
            r.stored.algorithm, lam=1.0, eta=None, beta=beta, wd=0.0)}
  sgd_runs = [r for r in runs if r.stored.algorithm == 'sgd']
  path = os.path.join(output_dir, 'stability_noisy_quadratic.png')
  stability_figure(runs, results, lam_true, floor, path)
  figures.append(path)
  stability = {
      'workload': workload_name, 'lambda_max_measured': lam,
      'lambda_max_tracked': int(lam_values.size),
      'lambda_max_spread': float(lam_values.max() - lam_values.min()),
      'lambda_max_true': lam_true, 'lambda_max_rel_error': abs(lam - lam_true) / lam_true,
      'loss_floor': floor, 'edges': edges, 'runs': results,
      'sgd_learning_rate_check': sgd_learning_rate_check(sgd_runs[0]) if sgd_runs else None,
      'stored_points': stored_point_predictions(cfg.baselines_dir, cfg.stability_algorithms,
                                                workload_name, lam)}

  # 2 and 3. Tuned NAdamW: α (and GSNR) per workload; one run per workload.
  names = list(dict.fromkeys([*cfg.alpha_workloads, cfg.gsnr_workload]))
  gsnr_first = [cfg.gsnr_workload] + [n for n in names if n != cfg.gsnr_workload]
  tuned_runs = {}
  for name in gsnr_first:
    stored = tuned_trial(cfg.baselines_dir, cfg.calibration_dir, name)
    step_hint = int(registry.workload_class(name).STEP_HINT)
    steps = cfg.steps or step_hint
    every = (cfg.gsnr_every if name == cfg.gsnr_workload
             else max(1, steps // cfg.tracked))
    tuned_runs[name] = rerun(stored, RUN_QUANTITIES, steps, every, work_dir, cfg.reuse)
  alpha_order = [n for n in names if n in cfg.alpha_workloads] + [
      n for n in names if n not in cfg.alpha_workloads]
  alpha_runs = [tuned_runs[n] for n in alpha_order]
  if cfg.sgd_alpha_workload:  # Cockpit's own setting: SGD at its best stored point
    stored = fastest_trial(cfg.baselines_dir, 'sgd', cfg.sgd_alpha_workload)
    if stored is None:
      print(f'no stored SGD trial reached the target on {cfg.sgd_alpha_workload}; skipped')
    else:
      steps = cfg.steps or stored.global_step
      alpha_runs.append(rerun(stored, SGD_ALPHA_QUANTITIES, steps,
                              max(1, steps // cfg.tracked), work_dir, cfg.reuse))
  alpha_results = []
  for run in alpha_runs:
    res = analyse_alpha(run)
    res['workload'] = run.stored.workload
    alpha_results.append(res)
  path = os.path.join(output_dir, 'alpha.png')
  alpha_figure(alpha_runs, alpha_results, path)
  figures.append(path)
  gsnr_results = [analyse_gsnr(tuned_runs[n]) for n in gsnr_first]
  path = os.path.join(output_dir, 'gsnr.png')
  gsnr_figure([tuned_runs[n] for n in gsnr_first], gsnr_results, path)
  figures.append(path)

  every_run = [*runs, *alpha_runs[len(alpha_order):], *tuned_runs.values()]
  summary = {'command': command or 'run_all(Settings(...))', 'work_dir': work_dir,
             'wall_sec': time.perf_counter() - start,
             'reruns_wall_sec': sum(r.wall_sec for r in every_run),
             'reused': sum(r.reused for r in every_run), 'stability': stability,
             'alpha': alpha_results, 'gsnr': gsnr_results,
             'figures': [os.path.relpath(f, ROOT) if f.startswith(ROOT) else f
                         for f in figures]}
  lines = summary_lines(summary)
  with open(os.path.join(output_dir, 'summary.txt'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines) + '\n')
  with open(os.path.join(output_dir, 'summary.json'), 'w', encoding='utf-8') as f:
    json.dump(_clean(summary), f, indent=1)
  print('\n'.join(lines), flush=True)
  return summary


def _clean(x):
  """JSON-ready: NumPy scalars as Python numbers, NaN and infinities as null."""
  if isinstance(x, dict):
    return {k: _clean(v) for k, v in x.items()}
  if isinstance(x, list | tuple):
    return [_clean(v) for v in x]
  if isinstance(x, np.generic):
    x = x.item()
  if isinstance(x, float) and not math.isfinite(x):
    return None
  return x


def main(argv):
  del argv
  absl_logging.set_verbosity(absl_logging.WARNING)  # Orbax logs every checkpoint at INFO.
  settings = Settings(**{f.name: (tuple(flags.FLAGS[f.name].value)
                                  if isinstance(f.default, tuple) else flags.FLAGS[f.name].value)
                         for f in dataclasses.fields(Settings)})
  if flags.FLAGS.smoke:
    settings = settings.smoke()
  command = 'python ' + ' '.join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
  run_all(settings, command)


if __name__ == '__main__':
  _define_flags()
  app.run(main)
