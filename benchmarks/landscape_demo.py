r"""Regenerate docs/landscape.md's measurements: Garipov et al.'s claim at small scale.

  python benchmarks/landscape_demo.py [--output_dir=experiments/landscape_demo] [--only=mnist1d,...]

For each workload: two trials of NAdamW (AlgoPerf's baseline, the first point of
reference_algorithms/nadamw/tuning_search_space_fixed.json) that differ only in
--rng_seed (1 and 2: initialisation and data order), run with submission_runner.py as a
user would, checkpoints on (the default); then `landscape.py` interpolate, connect (a
quadratic Bezier curve, one bend) and plane through the endpoints and the trained bend.

  mnist1d                 the MLP, its full lite-suite budget (90 s of submission time)
  mnist1d_cnn_batchnorm   the 1-D CNN with batch norm, full budget (60 s): statistics are
                          recomputed at every evaluated point
  noisy_quadratic         convex: every barrier must be ~0 (20,000 steps, not the budget)

Prints each command's output and wall time; copies the PNGs to docs/figures/landscape/
and writes docs/figures/landscape/results.json (every summary) and results.md (the
barrier table docs/landscape.md quotes). A rerun keeps finished trials and trained curves
(the commands resume); --retrain_curves trains the curves anew, --fresh starts over.
About 11 minutes from scratch on a 2-core CPU (trials 7, landscapes 4; docs/landscape.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = os.path.join(ROOT, 'docs', 'figures', 'landscape')
SUBMISSION = ['--submission_path=reference_algorithms/nadamw/submission.py',
              '--tuning_search_space=reference_algorithms/nadamw/tuning_search_space_fixed.json',
              '--num_tuning_trials=1']
SEEDS = (1, 2)
# Per workload: extra trial flags, extra connect flags. The curve trains about as many
# steps as the endpoints did (mnist1d: ~29k steps to the targets; the CNN: ~8.5k in its
# budget), with Adam at 1e-3 and a cosine decay (landscape.py's defaults otherwise).
WORKLOADS = {
    'mnist1d': ([], ['--curve_steps=30000']),
    'mnist1d_cnn_batchnorm': ([], ['--curve_steps=8000']),
    'noisy_quadratic': (['--max_global_steps=20000'], ['--curve_steps=1000']),
}


def run(command: list[str]) -> tuple[float, str]:
  """Run a command from the repository root; (wall seconds, its stdout). Stops on failure."""
  shown = ' '.join(['python', *command[1:]]).replace(ROOT + os.sep, '')
  print(f'$ {shown}', flush=True)
  start = time.monotonic()
  proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
  seconds = time.monotonic() - start
  if proc.returncode != 0:
    sys.exit(f'failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}')
  print(proc.stdout.rstrip(), f'\n({seconds:.0f} s)', flush=True)
  return seconds, proc.stdout


def train(workload: str, seed: int, trials_dir: str, extra: list[str]) -> tuple[str, float]:
  name = f'{workload}_seed{seed}'
  seconds, _ = run([sys.executable, 'submission_runner.py', f'--workload={workload}',
                    *SUBMISSION, f'--rng_seed={seed}', f'--experiment_dir={trials_dir}',
                    f'--experiment_name={name}', '--resume_last_run', '--progress=off',
                    *extra])
  return os.path.join(trials_dir, name, 'study_0', f'{workload}_jax', 'trial_1'), seconds


def final_validation(trial_dir: str) -> dict:
  import csv
  with open(os.path.join(trial_dir, 'eval_measurements.csv'), encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
  last = rows[-1]
  return {k: float(v) for k, v in last.items()
          if k.startswith('validation/') or k in ('global_step', 'score')}


def landscape(workload: str, trials: list[str], folder: str, connect_flags: list[str],
              retrain: bool = False) -> dict:
  timings = {}
  base = [sys.executable, 'landscape.py']
  timings['interpolate'], _ = run([*base, 'interpolate', *trials, f'--output_dir={folder}'])
  timings['connect'], _ = run([*base, 'connect', *trials, '--curve=bezier', '--num_bends=1',
                               *connect_flags, f'--output_dir={folder}',
                               *(['--overwrite'] if retrain else [])])
  timings['plane'], _ = run([*base, 'plane', f'--curve_dir={folder}',
                             f'--output_dir={folder}'])
  summaries = {}
  for view in ('interpolate', 'connect', 'plane'):
    with open(os.path.join(folder, f'{view}.json'), encoding='utf-8') as f:
      summaries[view] = json.load(f)
    for name in summaries[view]['files']:
      if name.endswith('.png'):
        shutil.copy(os.path.join(folder, name), os.path.join(FIGURES, f'{workload}_{name}'))
  return {'summaries': summaries, 'wall_seconds': timings}


def table(results: dict) -> str:
  lines = ['| workload | endpoints (train loss A, B) | segment: train-loss barrier | '
           'curve: train-loss barrier | segment: validation barrier | curve: validation '
           'barrier | BN recomputed |', '|---|---|---|---|---|---|---|']
  for workload, result in results.items():
    connect = result['summaries']['connect']
    loss, error = connect['primary_series']
    ends = connect['endpoints'][loss]
    seg, cur = connect['barriers']['segment'], connect['barriers']['curve']
    lines.append(f'| {workload} | {ends[0]:.4g}, {ends[1]:.4g} | {seg[loss]:.4g} | '
                 f'{cur[loss]:.4g} | {seg[error]:.4g} ({error}) | {cur[error]:.4g} | '
                 f'{"yes" if connect["batch_norm_recomputed"] else "no"} |')
  return '\n'.join(lines) + '\n'


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--output_dir', default='experiments/landscape_demo')
  parser.add_argument('--only', default=','.join(WORKLOADS))
  parser.add_argument('--fresh', action='store_true',
                      help='delete --output_dir first (trials and curves are redone)')
  parser.add_argument('--retrain_curves', action='store_true',
                      help='train the curves anew (connect --overwrite), keeping the trials')
  args = parser.parse_args()
  output = os.path.abspath(args.output_dir)
  if args.fresh and os.path.isdir(output):
    shutil.rmtree(output)
  os.makedirs(FIGURES, exist_ok=True)
  results_path = os.path.join(FIGURES, 'results.json')
  results = {}
  if os.path.exists(results_path):
    with open(results_path, encoding='utf-8') as f:
      results = json.load(f)
  for workload in args.only.split(','):
    trial_flags, connect_flags = WORKLOADS[workload]
    print(f'--- {workload}', flush=True)
    trials, train_seconds = [], []
    for seed in SEEDS:
      trial, seconds = train(workload, seed, os.path.join(output, 'trials'), trial_flags)
      trials.append(trial)
      train_seconds.append(seconds)
    result = landscape(workload, trials, os.path.join(output, workload), connect_flags,
                       args.retrain_curves)
    result['trials'] = {os.path.relpath(t, ROOT): final_validation(t) for t in trials}
    result['training_wall_seconds'] = train_seconds
    results[workload] = result
    with open(results_path, 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=2, sort_keys=True)
  with open(os.path.join(FIGURES, 'results.md'), 'w', encoding='utf-8') as f:
    f.write(table(results))
  print(f'\n{table(results)}\nwrote {results_path}')


if __name__ == '__main__':
  main()
