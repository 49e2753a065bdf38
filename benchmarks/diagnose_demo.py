r"""Regenerate docs/diagnose.md's demonstration: the four diagnoses on char_lm_postnorm.

  python benchmarks/diagnose_demo.py [--overwrite] [--output_dir=diagnoses/demo] [--only=lr_sweep,...]

Runs `diagnose.py` as a user would (NAdamW's second fixed point with its warmup removed;
lr_sweep and clip_threshold 300-step trials, early_instability 200, warmup 600 steps at an
explicit rate), times each command, copies the PNGs to docs/figures/diagnose/ and writes
docs/figures/diagnose/<diagnosis>_output.md: the command, its wall time and its output.
Without --overwrite a rerun resumes the trials already done (fast, and the wall time says
so); --overwrite passes --overwrite to every command, so every trial is run afresh (needed
when the folders hold trials from an older version, e.g. before all trials of a diagnosis
shared one seed). About 19 minutes from scratch on a 2-core CPU (measured: 272 + 222 +
169 + 472 s; see docs/diagnose.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = os.path.join(ROOT, 'docs', 'figures', 'diagnose')
COMMON = ['--workload=char_lm_postnorm',
          '--submission_path=reference_algorithms/nadamw/submission.py',
          '--tuning_search_space=reference_algorithms/nadamw/tuning_search_space_fixed.json',
          '--hparam_index=1', '--set=warmup_factor=0']
# Warmup at 0.0316 (10x lr*) over 600 steps, the default grid (10, 18, 33, 60 steps).
# Without warmup the run stalls near the unigram plateau (val loss 2.95 at step 600); with
# 33 or 60 steps of warmup it trains (1.77, 1.68). 600 steps take ~55 s of submission time
# here, close to char_lm's 60 s budget: on a loaded machine a trial can stop early (the
# verdict says which). See docs/diagnose.md, step 4.
WARMUP = ['--steps=600', '--learning_rate=0.0316']
STEPS = {'lr_sweep': ['--steps=300', '--lr_min=1e-3', '--lr_max=1e-1', '--num_rates=5'],
         'early_instability': ['--steps=200', '--sparse_eval_every=50'],
         'clip_threshold': ['--steps=300', '--grad_norm_every=3'],
         'warmup': WARMUP}


def run(diagnosis: str, output_dir: str, overwrite: bool) -> tuple[list[str], float, str]:
  command = [sys.executable, 'diagnose.py', diagnosis, *COMMON, *STEPS[diagnosis],
             f'--output_dir={output_dir}', *(['--overwrite'] if overwrite else [])]
  start = time.monotonic()
  proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
  seconds = time.monotonic() - start
  output = [line for line in proc.stdout.splitlines() if line.strip()]
  if proc.returncode not in (0, 2):
    sys.exit(f'{" ".join(command)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
  if proc.returncode == 2:
    output += [line for line in proc.stderr.splitlines() if line.startswith('error:')]
  return command, seconds, '\n'.join(output)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--output_dir', default='diagnoses/demo')
  parser.add_argument('--only', default='lr_sweep,early_instability,clip_threshold,warmup')
  parser.add_argument('--overwrite', action='store_true',
                      help='start every diagnosis over (diagnose.py --overwrite)')
  args = parser.parse_args()
  os.makedirs(FIGURES, exist_ok=True)
  for diagnosis in args.only.split(','):
    print(f'--- {diagnosis}', flush=True)
    command, seconds, output = run(diagnosis, args.output_dir, args.overwrite)
    print(output, f'\n({seconds:.0f} s)', flush=True)
    png = os.path.join(ROOT, args.output_dir, diagnosis, f'{diagnosis}.png')
    if os.path.exists(png):
      shutil.copy(png, os.path.join(FIGURES, f'{diagnosis}.png'))
    shown = ' '.join(['python', *command[1:]]).replace(ROOT + os.sep, '')
    path = os.path.join(FIGURES, f'{diagnosis}_output.md')
    with open(path, 'w', encoding='utf-8') as f:
      how = ('every trial run afresh (--overwrite)' if args.overwrite else
             'resumed: trials already in the folder were kept, not rerun')
      f.write(f'```\n$ {shown}\n{output}\n```\n\nwall time: {seconds:.0f} s '
              f'(benchmarks/diagnose_demo.py; {how})\n')
    print(f'wrote {path}')


if __name__ == '__main__':
  main()
