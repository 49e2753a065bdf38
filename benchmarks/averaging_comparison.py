r"""Averaging, ensembles and freezing against NAdamW at equal budget (docs/averaging.md).

  python benchmarks/averaging_comparison.py [--workloads=mnist1d,...] [--algorithms=...]
      [--point=1] [--output_dir=averaging_runs] [--docs=docs/averaging.md]

Each algorithm trains one trial per workload on point `--point` of its
`tuning_search_space_fixed.json`, from the same seed, for the workload's whole time budget
(the targets do not stop it: final metrics are compared at equal budget). From the logs it
reads, per workload and algorithm: the submission time at which the validation target was
first met, the final validation metric (of the ensemble, for ensembles), the final metric of
the ensemble's last member alone (the single model), the members and their extra memory.
It prints one Markdown table per workload and whether each paper's claim held here, keeps
it beside the trials, and with --docs replaces the part of that page between its RESULTS
markers with every workload's table measured so far in --output_dir. A rerun resumes:
finished trials are read, not rerun.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pandas as pd  # noqa: E402

from algoperf import logs  # noqa: E402

ALGORITHMS = ('nadamw', 'swa', 'fge', 'snapshot_ensemble', 'freezeout')
START, END = '<!-- RESULTS:START -->', '<!-- RESULTS:END -->'
SECTION = 'comparison.md'  # each workload's table, beside its trials
# FreezeOut's claim (Brock et al. 2017): up to 20% less time at <= 3% relative accuracy loss.
FREEZEOUT_SPEEDUP, FREEZEOUT_LOSS = 0.8, 0.03


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What one trial's eval log says about it."""
  algorithm: str
  time_to_target: float       # submission seconds; inf when the target was never met
  final: float                # last eval's validation metric (the ensemble's, if any)
  final_single: float         # ... of the ensemble's last member alone (= final otherwise)
  members: int                # ensemble members at the last eval (1 for a single model)
  extra_mib: float            # their params' and states' memory beyond one model's
  steps: int


def read_outcome(algorithm: str, eval_csv: str, metric: str, target: float,
                 higher_is_better: bool) -> Outcome:
  """The outcome of one trial from its eval_measurements.csv."""
  rows = pd.read_csv(eval_csv)
  column = f'validation/{metric}'
  values = rows[column].astype(float)
  met = values >= target if higher_is_better else values <= target
  time = float(rows['score'][met].iloc[0]) if met.any() else math.inf
  last = rows.iloc[-1]
  single_column = f'{logs.LAST_MEMBER_PREFIX}{column}'
  members = int(last.get(logs.ENSEMBLE_MEMBERS, 0) or 0)
  single = (float(last[single_column]) if members and single_column in rows
            else float(last[column]))
  extra = float(last.get(logs.ENSEMBLE_EXTRA_BYTES, 0) or 0) / 2**20
  return Outcome(algorithm, time, float(last[column]), single, max(members, 1), extra,
                 int(last['global_step']))


def better(a: float, b: float, higher_is_better: bool) -> bool:
  return a > b if higher_is_better else a < b


def claims(outcomes: dict[str, Outcome], higher_is_better: bool) -> list[tuple[str, str]]:
  """(claim, what was measured here) for each paper claim whose runs are present."""
  found = []
  base = outcomes.get('nadamw')
  swa = outcomes.get('swa')
  if swa and base:
    held = better(swa.final, base.final, higher_is_better)
    found.append(('SWA improves on its base optimizer\'s (NAdamW) final metric',
                  f'{"yes" if held else "no"}: {swa.final:.4g} vs {base.final:.4g}'))
  for name, label in (('snapshot_ensemble', 'Snapshot ensemble'), ('fge', 'FGE')):
    run = outcomes.get(name)
    if run is None:
      continue
    held = better(run.final, run.final_single, higher_is_better)
    found.append((f'{label} of {run.members} beats its single last snapshot at equal budget',
                  f'{"yes" if held else "no"}: {run.final:.4g} vs {run.final_single:.4g}'))
    if base:
      held = better(run.final, base.final, higher_is_better)
      found.append((f'{label} beats NAdamW at equal budget',
                    f'{"yes" if held else "no"}: {run.final:.4g} vs {base.final:.4g}'))
  freeze = outcomes.get('freezeout')
  if freeze and base:
    loss = (base.final - freeze.final) / abs(base.final) if higher_is_better else (
        freeze.final - base.final) / abs(base.final)
    faster = freeze.time_to_target <= FREEZEOUT_SPEEDUP * base.time_to_target
    held = faster and loss <= FREEZEOUT_LOSS and math.isfinite(freeze.time_to_target)
    found.append(('FreezeOut: ≥ 20% less time to target than NAdamW at ≤ 3% relative loss',
                  f'{"yes" if held else "no"}: time {freeze.time_to_target:.4g} vs '
                  f'{base.time_to_target:.4g} s, relative loss {100 * loss:.2g}%'))
  return found


def markdown(workload: str, outcomes: dict[str, Outcome], metric: str,
             higher_is_better: bool) -> str:
  """One workload's table and claims."""
  lines = [f'### {workload}', '',
           f'| algorithm | time to target (s) | final validation {metric} | single model | '
           'members | extra MiB | steps |', '|---|---|---|---|---|---|---|']
  for o in outcomes.values():
    lines.append(f'| {o.algorithm} | {o.time_to_target:.4g} | {o.final:.4g} | '
                 f'{o.final_single:.4g} | {o.members} | {o.extra_mib:.3g} | {o.steps} |')
  lines.append('')
  for claim, measured in claims(outcomes, higher_is_better):
    lines.append(f'- {claim}: **{measured}**')
  return '\n'.join(lines) + '\n'


def run_trial(algorithm: str, workload_name: str, point: int, output_dir: str) -> str:
  """Train (or resume) one trial to the full budget; return its eval_measurements.csv."""
  from algoperf import experiment
  from workloads import registry
  folder = os.path.join(ROOT, 'reference_algorithms', algorithm)
  config = experiment.ExperimentConfig(
      submission_path=os.path.join(folder, 'submission.py'), workload_name=workload_name,
      experiment_dir=output_dir, experiment_name=algorithm,
      tuning_search_space=os.path.join(folder, 'tuning_search_space_fixed.json'),
      num_tuning_trials=point, hparam_start_index=point - 1, hparam_end_index=point,
      rng_seed=0, stop_at_targets=False, save_checkpoints=True, resume_last_run=True,
      show_progress=False)
  [outcome] = experiment.run_experiment(
      config, registry.workload_class(workload_name),
      registry.base_workload_name(workload_name))
  if outcome.error:
    raise RuntimeError(f'{algorithm} on {workload_name}: {outcome.error}')
  return os.path.join(outcome.log_dir, logs.EVAL_MEASUREMENTS)


def write_docs(path: str, text: str) -> None:
  """Replace the page's part between the RESULTS markers with `text`."""
  with open(path, encoding='utf-8') as f:
    page = f.read()
  head, rest = page.split(START, 1)
  _, tail = rest.split(END, 1)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(f'{head}{START}\n{text}{END}{tail}')


def main() -> None:
  from algoperf import suite as suite_lib
  from workloads import registry
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--workloads', default=','.join(suite_lib.load_suite().base_workloads))
  parser.add_argument('--algorithms', default=','.join(ALGORITHMS))
  parser.add_argument('--point', type=int, default=1,
                      help='which point of each tuning_search_space_fixed.json (1-based)')
  parser.add_argument('--output_dir', default='averaging_runs')
  parser.add_argument('--docs', default=None,
                      help='page whose RESULTS part to replace, e.g. docs/averaging.md')
  args = parser.parse_args()
  for workload_name in args.workloads.split(','):
    workload = registry.get_workload(workload_name)
    metric, higher = workload.target_metric_name, workload.target_metric_higher_is_better
    outcomes = {}
    for algorithm in args.algorithms.split(','):
      print(f'--- {workload_name}: {algorithm}', flush=True)
      path = run_trial(algorithm, workload_name, args.point,
                       os.path.join(args.output_dir, workload_name))
      outcomes[algorithm] = read_outcome(algorithm, path, metric,
                                         workload.validation_target_value, higher)
    for o in outcomes.values():
      print(f'RESULT {workload_name}_{o.algorithm}_time_to_target_sec {o.time_to_target:.4g}')
      print(f'RESULT {workload_name}_{o.algorithm}_final_validation_{metric} {o.final:.6g}')
    section = markdown(workload_name, outcomes, metric, higher)
    with open(os.path.join(args.output_dir, workload_name, SECTION), 'w',
              encoding='utf-8') as f:
      f.write(section)
    print(section, flush=True)
  if args.docs:
    write_docs(args.docs, '\n'.join(stored_sections(args.output_dir)))
    print(f'wrote {args.docs}')


def stored_sections(output_dir: str) -> list[str]:
  """Every workload's table measured so far under `output_dir` (earlier runs' included)."""
  found = []
  for name in sorted(os.listdir(output_dir)):
    path = os.path.join(output_dir, name, SECTION)
    if os.path.isfile(path):
      with open(path, encoding='utf-8') as f:
        found.append(f.read())
  return found


if __name__ == '__main__':
  main()
