"""This machine's probe against the baselines': factors, notices, normalised times, estimates.

A run is compared like-for-like with stored baselines only when both machines run the
reference step about equally fast (within TOLERANCE on every workload). Otherwise the
notice says by how much and offers two labelled ways out: hardware-normalised times (an
approximation) or re-recording the baselines here. docs/machine_probe.md explains it.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import os
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from algoperf.progress import format_duration
from algoperf.speed_probe import UNSTABLE_SPREAD

# Factors within 1 ± TOLERANCE (either way) count as "the same speed".
TOLERANCE = 0.20
MANIFEST = 'manifest.json'
REFERENCE_PROBE = 'reference_probe.json'
PROBES_KEY = 'probes'  # manifest: {'missing': [algorithms without a probe], 'reference': file}
REGENERATE_TRIALS = 5  # regenerate.py's default protocol: 1 study x 5 trials
NORMALISED_TITLE = ('Hardware-normalised times (APPROXIMATION, not a measurement: time x this '
                    "machine's steps/s / the reference machine's, i.e. time / factor)")
OTHER_MACHINE = '†'  # marks a stored baseline recorded on a machine of another speed
Notice = tuple[str, list[str]]  # (title, lines): what report.write_report shows in a box


@dataclasses.dataclass
class Reference:
  """Steps/s of the baselines' machine per workload, and where each number comes from."""
  rates: dict[str, float]
  unstable: set[str]
  # workload -> 'baselines' (their own probe), 'logs' (the recording machine's step rate,
  # read from its stored NAdamW logs) or 'reference' (the labelled reference probe)
  source: dict[str, str]
  reference_label: str = ''
  lacking: list[str] = dataclasses.field(default_factory=list)  # baselines without a probe
  algorithms: list[str] = dataclasses.field(default_factory=list)
  # algorithm -> workload -> its own probe's entry, for the baselines that carry one
  probes: dict[str, dict[str, dict]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Factor:
  """How much slower this machine is than the reference on one workload (>1: slower)."""
  workload: str
  here: float | None
  there: float | None
  unstable: bool = False
  source: str = ''

  @property
  def value(self) -> float | None:
    return self.there / self.here if self.here and self.there else None

  @property
  def out_of_tolerance(self) -> bool:
    """The speeds differ by more than TOLERANCE, either way (probes stable or not)."""
    v = self.value
    return v is not None and max(v, 1 / v) - 1 > TOLERANCE

  @property
  def comparable(self) -> bool:
    return self.value is not None and not self.unstable and not self.out_of_tolerance

  def describe(self) -> str:
    if self.here is None:
      return f'{self.workload}: not probed on this machine'
    if self.there is None:
      return f'{self.workload}: no probe of the baselines\' machine to compare with'
    v = self.value
    speed = (f'{v:.2f}x slower' if v >= 1 else f'{1 / v:.2f}x faster')
    text = (f'{self.workload}: this machine is {speed} than the one that recorded the '
            f'baselines ({self.here:.0f} vs {self.there:.0f} steps/s)')
    if self.unstable:
      return text + ': UNSTABLE probe (speed varied over the repeats), the factor is unreliable'
    return text + (': within tolerance' if self.comparable
                   else ': your times are not comparable with theirs')


def _manifest_dir(baselines_dir: str) -> str | None:
  for folder in (baselines_dir, os.path.dirname(os.path.normpath(baselines_dir))):
    if os.path.isfile(os.path.join(folder, MANIFEST)):
      return folder
  return None


def _read(path: str) -> dict:
  with open(path) as f:
    return json.load(f)


def load_reference(baselines_dir: str) -> Reference | None:
  """The baselines' machine: the one that recorded the core baseline (NAdamW, the probe's own
  algorithm) when it is stored, else the median of the stored probes; then the recording
  machine's rate in NAdamW's logs, then the labelled reference probe, where those lack one."""
  folder = _manifest_dir(baselines_dir)
  if folder is None:
    return None
  return reference_of(_read(os.path.join(folder, MANIFEST)), baselines_dir, folder)


def reference_of(manifest: Mapping[str, Any], baselines_dir: str,
                 folder: str | None = None) -> Reference:
  """load_reference's reference from a manifest already read (`folder`: where a labelled
  reference probe may lie)."""
  entries = manifest.get('algorithms', {})
  probes = {name: (entry.get('probe') or {}).get('workloads') or {}
            for name, entry in entries.items()}
  probes = {name: {w: r for w, r in rates.items() if 'steps_per_sec' in r}
            for name, rates in probes.items()}
  # A core baseline without a probe was recorded before the probe existed: its logs say its
  # machine's speed, and the other algorithms' probes (perhaps another machine) do not.
  core = [LOGGED_ALGORITHM] if LOGGED_ALGORITHM in entries else list(probes)
  own: dict[str, list[float]] = {}
  unstable = set()
  for name in core:
    for workload, w in probes.get(name, {}).items():
      own.setdefault(workload, []).append(w['steps_per_sec'])
      unstable |= {workload} if w.get('unstable') else set()
  ref = Reference({n: statistics.median(r) for n, r in own.items()}, unstable,
                  dict.fromkeys(own, 'baselines'),
                  lacking=list(manifest.get(PROBES_KEY, {}).get('missing', [])),
                  algorithms=sorted(entries), probes={n: r for n, r in probes.items() if r})
  for name, rate in logged_rates(baselines_dir, manifest.get('suite')).items():
    if name not in ref.rates:
      ref.rates[name], ref.source[name] = rate, 'logs'
  probe_file = manifest.get(PROBES_KEY, {}).get('reference', REFERENCE_PROBE)
  path = os.path.join(folder, probe_file) if folder is not None else None
  if path is not None and os.path.isfile(path):
    probe = _read(path)
    ref.reference_label = probe.get('note') or f'reference probe {path}'
    for workload, w in probe.get('workloads', {}).items():
      if workload not in ref.rates and 'steps_per_sec' in w:
        ref.rates[workload], ref.source[workload] = w['steps_per_sec'], 'reference'
        ref.unstable |= {workload} if w.get('unstable') else set()
  return ref


def other_machines(reference: Reference) -> dict[str, list[Factor]]:
  """The stored baselines recorded on a machine whose speed differs from the baselines'
  machine by more than TOLERANCE on some workload, with their factors (their probe against
  the reference: > 1, their machine was slower). Their times are not comparable with the
  other baselines'. A difference within tolerance counts as the same machine, even when a
  probe was unstable."""
  found = {}
  for name, rates in sorted(reference.probes.items()):
    factors = compare({'workloads': rates}, reference,
                      sorted(w for w in rates if w in reference.rates))
    if any(f.out_of_tolerance for f in factors):
      found[name] = factors
  return found


def speeds_text(factors: Sequence[Factor]) -> str:
  """'mnist1d 2.11x slower, char_lm 1.30x faster (unstable probe)': > 1 is slower."""
  return ', '.join(f'{f.workload} '
                   + (f'{f.value:.2f}x slower' if f.value >= 1 else f'{1 / f.value:.2f}x faster')
                   + (' (unstable probe)' if f.unstable else '') for f in factors)


def other_machines_notice(reference: Reference | None,
                          probe: Mapping[str, Any] | None = None) -> Notice | None:
  """The box that says which stored baselines come from another machine (None: all from one),
  and, given this run's probe, how this machine compares with theirs."""
  found = other_machines(reference) if reference is not None else {}
  if not found:
    return None
  core = (f'the core baseline\'s ({LOGGED_ALGORITHM})'
          if LOGGED_ALGORITHM in reference.algorithms else 'the other baselines\'')
  lines = [f'{name}, against {core} machine: {speeds_text(factors)}'
           for name, factors in found.items()]
  lines += ['(each algorithm\'s own probe, NAdamW\'s step in steps/s, taken before it was '
            'recorded, against the reference above)']
  lines += ['', 'Their times are not comparable with the other baselines\' (nor their scores, '
            'which mix them): compare them with each other, or re-record them with the rest on '
            'one machine (docs/machine_probe.md). The leaderboard names them '
            f'"<algorithm> [baseline {OTHER_MACHINE}]".']
  if probe is not None:
    here = {w for w, r in probe.get('workloads', {}).items() if 'steps_per_sec' in r}
    for name in found:
      rates = reference.probes[name]
      theirs = Reference({w: r['steps_per_sec'] for w, r in rates.items()},
                         {w for w, r in rates.items() if r.get('unstable')}, {})
      mine = compare(probe, theirs, sorted(here & set(rates)))
      if mine:
        same = all(f.comparable for f in mine)
        lines.append(f'This machine against {name}\'s: {speeds_text(mine)}'
                     + (' (within tolerance: like-for-like with it)' if same else ''))
  title = (f'Stored baselines from more than one machine: {", ".join(found)} recorded on a '
           f'machine whose speed differs from {core} by more than {TOLERANCE:.0%}')
  return title, lines


# The stored trial whose step is the probe's: NAdamW at point 1 of its fixed list, trial 1.
LOGGED_ALGORITHM, LOGGED_TRIAL = 'nadamw', 'trial_1'


def logged_rates(baselines_dir: str, suite: str | None) -> dict[str, float]:
  """Steps per second of submission time of the stored NAdamW trial 1, per workload, between
  its first and last eval (so the first step's compilation is left out).

  These come from the machine that recorded the baselines, measured by the runner while it
  trained them: the best reference there is for baselines stored without a probe. The
  runner's step rate is within about 10% of the bare step's the probe times
  (benchmarks/runner_overhead.py), so a factor built on it is good to about that.
  """
  runs = os.path.join(baselines_dir, LOGGED_ALGORITHM)
  if suite is None or not os.path.isdir(runs):
    return {}
  rates = {}
  pattern = os.path.join(runs, suite, 'study_0', '*_jax', LOGGED_TRIAL, 'eval_measurements.csv')
  for path in sorted(glob.glob(pattern)):
    with open(path, newline='') as f:
      rows = list(csv.DictReader(f))
    if len(rows) < 2:
      continue
    steps = int(rows[-1]['global_step']) - int(rows[0]['global_step'])
    seconds = (float(rows[-1]['accumulated_submission_time'])
               - float(rows[0]['accumulated_submission_time']))
    if steps > 0 and seconds > 0:
      workload = os.path.basename(os.path.dirname(os.path.dirname(path)))[:-len('_jax')]
      rates[workload] = steps / seconds
  return rates


def compare(probe: Mapping[str, Any], reference: Reference,
            workloads: Sequence[str]) -> list[Factor]:
  """One factor per workload: the reference's steps/s over this machine's."""
  factors = []
  for name in workloads:
    w = probe['workloads'].get(name, {})
    factors.append(Factor(name, w.get('steps_per_sec'), reference.rates.get(name),
                          bool(w.get('unstable')) or name in reference.unstable,
                          reference.source.get(name, '')))
  return factors


def regenerate_command(algorithms: Sequence[str], workloads: Sequence[str],
                       output_dir: str, score_run: str | None = None) -> str:
  """The one command that re-records `algorithms` on this machine and, with `score_run`
  (a run_suite.py --experiment_dir), scores that run against them: like-for-like."""
  return (f'python baselines/regenerate.py --algorithms={",".join(algorithms)} '
          f'--workloads={",".join(workloads)} --output_dir={output_dir}'
          + (f' --score_run={score_run}' if score_run else ''))


def speed_notice(probe: Mapping[str, Any] | None, reference: Reference | None,
                 workloads: Sequence[str], rerecord: Sequence[str] = ('nadamw',),
                 rerecord_dir: str = 'my_baselines',
                 estimate_sec: Mapping[str, float] | None = None,
                 score_run: str | None = None) -> Notice:
  """The box shown before the suite, under the terminal leaderboard and atop the HTML."""
  if probe is None:
    return ('Machine speed NOT MEASURED (no probe: --probe=off, or a --max_global_steps run)', [
        'Whether this machine is as fast as the one that recorded the baselines is unknown:',
        'the comparison with the baselines may not be like-for-like.'])
  if reference is None:
    return ('Machine speed: the baselines carry no probe', [
        'No probe of the machine that recorded these baselines (no manifest.json with one):',
        'the comparison with them may not be like-for-like.'])
  factors = compare(probe, reference, workloads)
  lines = [f.describe() for f in factors]
  if any(f.source == 'logs' for f in factors):
    lines += ['', 'Compared with the recording machine\'s own step rate, read from its stored '
              f'{LOGGED_ALGORITHM} logs ({LOGGED_TRIAL}, under the runner; good to about 10%).']
  if any(f.source == 'reference' for f in factors):
    lines += ['', 'Compared with: ' + reference.reference_label]
  if reference.lacking:
    lines.append('Baselines without a probe of their own recording machine: '
                 + ', '.join(reference.lacking) + '.')
  off = [f.workload for f in factors if not f.comparable]
  if not off:
    title = f'Machine speed: within {TOLERANCE:.0%} of the baselines\' machine on every workload'
    return title, lines
  title = (f'Machine speed differs from the baselines\' by more than {TOLERANCE:.0%} (or could '
           f'not be measured reliably) on {len(off)} of {len(factors)} workload(s): the '
           'comparison with the baselines is NOT like-for-like')
  shaky = [f.workload for f in factors if f.unstable]
  if shaky:
    lines += ['', f'Unstable probes ({", ".join(shaky)}): the machine\'s speed moved by more than '
              f'{UNSTABLE_SPREAD:.0%} between repeats (other jobs?). Measure again when it is '
              'quiet: python probe_machine.py --workloads=' + ','.join(shaky)]
  rerecord_sec = sum((estimate_sec or {}).get(w, 0.0) for w in off) * len(rerecord)
  lines += ['', 'Options:',
            '(a) --normalize_times: also show hardware-normalised times (an approximation: '
            'time / factor; algorithms with costlier steps scale differently).',
            '(b) re-record the baselines on this machine and score against them, in one '
            'command' + (f' (estimate: ~{_minutes(rerecord_sec)})' if rerecord_sec else '')
            + ':',
            '    ' + regenerate_command(rerecord, off, rerecord_dir, score_run)]
  if score_run:
    lines.append(f'    (the like-for-like leaderboard goes to {score_run}/'
                 'leaderboard_like_for_like/)')
  else:
    lines.append(f'    then: python run_suite.py ... --baselines_dir={rerecord_dir}/runs')
  return title, lines


def _minutes(seconds: float) -> str:
  return f'{seconds / 3600:.1f} h' if seconds >= 5400 else f'{seconds / 60:.0f} min'


def normalised_notice(factors: Sequence[Factor], times: Mapping[str, float | None]) -> Notice:
  """The run's times to target scaled to the reference machine (raw times stay as they are)."""
  lines = [f'{"workload":<24} {"time to target":>15} {"factor":>8} {"normalised":>11}']
  for f in factors:
    t = times.get(f.workload)
    raw = '—' if t is None else f'{t:.1f} s'
    if f.value is None or t is None:
      lines.append(f'{f.workload:<24} {raw:>15} {"?" if f.value is None else f"{f.value:.2f}":>8}'
                   f' {"—":>11}')
    else:
      lines.append(f'{f.workload:<24} {raw:>15} {f.value:>8.2f} {t / f.value:>9.1f} s'
                   + ('  (unstable probe)' if f.unstable else ''))
  lines += ['normalised = time to target / factor (factor = reference steps/s / this machine\'s, '
            "of NAdamW's step). The leaderboard's raw times are unchanged."]
  return NORMALISED_TITLE, lines


def text(notice: Notice) -> str:
  """A notice for the terminal, framed so it stands out."""
  title, lines = notice
  bar = '=' * 100
  return '\n'.join([bar, title, *[f'  {line}' if line else '' for line in lines], bar])


def trial_estimate(probe_workload: Mapping[str, Any] | None, budget_sec: float,
                   eval_period_sec: float) -> float:
  """Wall seconds one trial takes at most: budget + set-up + compile + its evals."""
  w = probe_workload or {}
  evals = budget_sec / eval_period_sec + 2
  return (budget_sec + w.get('setup_sec', 0.0) + w.get('compile_sec', 0.0)
          + w.get('eval_sec', 0.0) * evals)


class WallEstimator:
  """Time left in a suite: per-trial estimates corrected by what finished workloads took."""

  def __init__(self, per_trial: Mapping[str, float], trials: int):
    self._per_trial, self._trials = dict(per_trial), trials
    self._spent = self._planned = 0.0

  def finished(self, workload: str, wall_sec: float) -> None:
    self._spent += wall_sec
    self._planned += self._per_trial[workload] * self._trials

  @property
  def correction(self) -> float:
    return self._spent / self._planned if self._planned else 1.0

  def left(self, workloads: Sequence[str]) -> float:
    return sum(self._per_trial[w] for w in workloads) * self._trials * self.correction

  def describe(self, workloads: Sequence[str]) -> str:
    left = self.left(workloads)
    if not self._planned:
      return f'estimate: at most ~{format_duration(left)} left, if every trial runs its budget'
    return (f'estimate: ~{format_duration(left)} left, from the wall time of the finished '
            'workloads')


def suite_notices(probe: Mapping[str, Any] | None, baselines_dir: str | None,
                  workloads: Sequence[str], per_trial: Mapping[str, float], trials: int,
                  submission_name: str, runs: Sequence[Any] = (), normalize: bool = False,
                  rerecord_dir: str = 'my_baselines',
                  score_run: str | None = None) -> list[Notice]:
  """The notices of a suite run (`runs`: its finished WorkloadRuns, empty before it starts).

  Re-recording estimates are regenerate.py's 5 trials x the per-trial estimate, corrected
  by the wall time the finished workloads of this run took.
  """
  if not baselines_dir:
    return []
  reference = load_reference(baselines_dir)
  estimator = WallEstimator(per_trial, trials)
  for run in runs:
    if run.error is None:
      estimator.finished(run.workload, run.wall_sec)
  estimate = {w: per_trial[w] * REGENERATE_TRIALS * estimator.correction for w in per_trial}
  rerecord = ([submission_name] if reference and submission_name in reference.algorithms
              else ['nadamw'])
  notices = [speed_notice(probe, reference, workloads, rerecord, rerecord_dir, estimate,
                          score_run)]
  mixed = other_machines_notice(reference, probe)
  if mixed is not None:
    notices.append(mixed)
  if normalize and runs and probe is not None and reference is not None:
    notices.append(normalised_notice(compare(probe, reference, workloads),
                                     {r.workload: r.time_to_target() for r in runs}))
  return notices
