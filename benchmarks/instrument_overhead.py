r"""How much longer does a run take with instruments than the same run without?

For each workload, in one process, NAdamW (the first point of its fixed search space)
trains the same trial (seed 0, the submission's batch size, a log folder, no eval until
the end) without instruments (`base`) and with `--instruments=<set>` at
`--instrument_schedule=linear:<every>` for every set × every. Each cell's run has
min(steps, every × max_tracked) steps after step 0, so it tracks step 0 and at most
`max_tracked` steps after it (on a CPU one observation of a large set costs seconds, and
the factor of a cell that tracks every step is settled by a few of them). Per repeat and
`every`, base runs bracket the instrumented ones (base, set, base, set, base, ...; the
order of the sets rotating), and each instrumented run is compared with the mean of the
two base runs next to it. Reported, the median over repeats of:

  factor   wall time of the training loop, steps 0..S (from step 0's start to step S's
           end, S the last tracked step), instrumented / base: what a user waits for over
           a run of S steps. It includes step 0, whose observation compiles the
           instruments' jitted function: that function is built per trial, so every run
           with instruments pays its compile once, at its first tracked step;
  steady   the same over steps 1..S (step 0 and with it the compile left out): the
           per-step cost a long run converges to. The goals are judged on it;
  first s  the extra seconds of step 0 with instruments (compile + first observation):
           a run of N steps costs about steady + first / (N × base step time);
  call     wall time of the whole `run_trial` call (set-up, loop, final eval), ratio;
  clock    the submission clock (accumulated submission time), ratio: instruments run
           with the clock stopped, so it should stay near 1.

The loop's marks come from an observer of this script's own (`_Marks`): the start of steps
0 and 1 (when the runner asks observers whether they want the step) and the end of step S
(the runner has synced on its state; base runs sync on that one step too). Before the
timed runs, each workload runs once untimed without instruments and once per set with
instruments for one step, so that process-wide caches (data, the model's and the
optimizer's traces) are warm; the instruments' own compile is not (it is per trial).

A cell whose steady factor exceeds twice its goal in the first repeat (or 3 where it has
no goal or the goal is lower) is not repeated (`--repeat_all` repeats it anyway): a
machine's noise cannot bring it near its goal. Output: progress lines, a table, and lines
`RESULT instrument_overhead_<workload>_<set>_every<N> <factor>` and
`RESULT instrument_overhead_steady_<workload>_<set>_every<N> <steady>`.

  python benchmarks/instrument_overhead.py     # 18 min on the 2-core CPU VM
  python benchmarks/instrument_overhead.py --workloads=mnist1d --sets=economy --every=16,64 \
    --steps=1024 --max_tracked=64 --repeats=5
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import tempfile
import time

from absl import app, flags, logging

from algoperf import observers, runner, speed_probe, submission, tuning
from algoperf.data.errors import DatasetUnavailableError
from algoperf.instruments.observer import InstrumentSettings

flags.DEFINE_list('workloads', ['mnist1d', 'fashion_mnist_cnn'], 'Workloads to measure.')
flags.DEFINE_list('steps', ['mnist1d=256', 'fashion_mnist_cnn=64'],
                  'Steps after step 0 of a run: N, or WORKLOAD=N entries (a multiple of '
                  'the largest --every, so that every schedule tracks the last step).')
flags.DEFINE_list('max_tracked', ['mnist1d=8', 'fashion_mnist_cnn=4'],
                  'At most this many tracked steps after step 0 per run (a cell runs '
                  'min(steps, every × max_tracked) steps): N, or WORKLOAD=N entries.')
flags.DEFINE_integer('repeats', 3, 'Repeats of each cell (base runs bracketing each).')
flags.DEFINE_list('sets', ['economy', 'business', 'full'], 'Instrument sets.')
flags.DEFINE_list('every', ['1', '4', '16', '64'], 'Track every N-th step (linear:N).')
flags.DEFINE_bool('repeat_all', False, 'Repeat every cell, even one far over its goal.')
FLAGS = flags.FLAGS

# The goals (steady factor) and Cockpit's published factors (Schneider et al. 2021,
# GPU, cifar10_3c3d), by (set, every).
GOALS = {('economy', 1): 1.2, ('business', 1): 1.5, ('full', 1): 5.0, ('full', 16): 1.3}
COCKPIT = {('economy', 1): 1.5, ('economy', 16): 1.0, ('business', 1): 2.0,
           ('business', 16): 1.1, ('full', 1): 21.0, ('full', 16): 2.3}
METRICS = ('run', 'steady', 'first', 'call', 'clock')


class _Marks(observers.TrialObserver):
  """Wall-clock marks of one run's loop: when steps 0 and 1 start and step `last` ends.

  Its own factory (`TrialConfig.observers` calls it with the trial's context). It wants
  step `last` only, so the runner syncs on that step's state before `after_update`; it
  goes last in the observers, so the instruments' observation of that step is inside.
  """

  def __init__(self, last: int):
    self.last = last
    self.times: dict[str, float] = {}

  def __call__(self, context) -> _Marks:
    del context
    return self

  def wants(self, step: int) -> bool:
    if step <= 1:
      self.times.setdefault(f'start{step}', time.perf_counter())
    return step == self.last

  def after_update(self, step, before, params, model_state) -> None:
    self.times['end'] = time.perf_counter()


def _per_workload(values: list[str], name: str, flag: str) -> int:
  """`N` (every workload) or `WORKLOAD=N` entries of a list flag."""
  default = None
  for value in values:
    key, sep, number = value.rpartition('=')
    if not sep:
      default = int(number)
    elif key == name:
      return int(number)
  if default is None:
    raise app.UsageError(f'--{flag} has no entry for {name} (give N or {name}=N)')
  return default


class Bench:
  """One workload's runs: the submission, its hyperparameters and batch size."""

  def __init__(self, name: str):
    import jax

    from workloads import registry
    self.name = name
    self.registry = registry
    self.sub = submission.load_submission(os.path.join(speed_probe.ROOT, speed_probe.SUBMISSION))
    space = tuning.load_search_space(os.path.join(speed_probe.ROOT, speed_probe.SEARCH_SPACE))
    self.hparams = tuning.study_points(space, 1, 0, pool_seed=0)[0]
    workload = registry.get_workload(name)
    self.batch_size = submission.resolve_batch_size(
        self.sub, name, registry.base_workload_name(name), workload.default_batch_size,
        jax.device_count())

  def run(self, steps: int, quantities: str | None = None, every: int = 1) -> dict:
    """One trial of steps 0..`steps`; seconds of the loop's windows and of the call."""
    marks = _Marks(steps)
    settings = () if quantities is None else (
        InstrumentSettings(quantities=quantities, schedule=f'linear:{every}', dashboard=False),)
    workload = self.registry.get_workload(self.name)
    with tempfile.TemporaryDirectory() as log_dir:
      start = time.perf_counter()
      result = runner.run_trial(runner.TrialConfig(
          workload=workload, workload_name=self.name, submission=self.sub,
          hyperparameters=self.hparams, seed=0, global_batch_size=self.batch_size,
          eval_batch_size=workload.eval_batch_size, budget_sec=1e9,
          max_global_steps=steps + 1, show_progress=False, stop_at_targets=False,
          skip_evals=True, log_dir=log_dir, save_checkpoints=False,
          observers=(*settings, marks)))
      call = time.perf_counter() - start
      if quantities is not None:  # The instruments logged every tracked step.
        with open(os.path.join(log_dir, 'instruments.csv')) as f:
          rows = sum(1 for _ in f) - 1
        assert rows == len(range(0, steps + 1, every)), (rows, steps, every)
    assert result.global_step == steps + 1, result.status
    t = marks.times
    return {'run': t['end'] - t['start0'], 'steady': t['end'] - t['start1'],
            'first': t['start1'] - t['start0'], 'call': call, 'clock': result.submission_time}


def _threshold(cell) -> float:
  return 2 * max(GOALS.get(cell, 1.5), 1.5)


def _fmt_goal(cell) -> str:
  return f'≤ {GOALS[cell]:g}' if cell in GOALS else '—'


def measure(bench: Bench, steps: int, max_tracked: int, sets, everies) -> dict:
  """cell -> list of per-repeat dicts of ratios (and 'first' in extra seconds)."""
  results: dict[tuple[str, int], list[dict]] = {(s, e): [] for e in everies for s in sets}
  cell_steps = {e: min(steps, e * max_tracked) for e in everies}
  for repeat in range(FLAGS.repeats):
    for every in everies:
      rotation = repeat % len(sets)
      order = [s for s in sets[rotation:] + sets[:rotation]
               if repeat == 0 or FLAGS.repeat_all
               or statistics.median(r['steady'] for r in results[(s, every)])
               <= _threshold((s, every))]
      if not order:
        continue
      n = cell_steps[every]
      base = bench.run(n)
      for quantities in order:
        watched = bench.run(n, quantities, every)
        after = bench.run(n)
        ref = {m: (base[m] + after[m]) / 2 for m in METRICS}
        ratios = {m: watched[m] / ref[m] for m in METRICS if m != 'first'}
        ratios['first'] = watched['first'] - ref['first']
        ratios['base_step_ms'] = 1e3 * ref['steady'] / n
        results[(quantities, every)].append(ratios)
        print(f'{bench.name} {quantities} every {every} ({n} steps, repeat {repeat + 1}): '
              f'factor {ratios["run"]:.3f}, steady {ratios["steady"]:.3f}, first step '
              f'+{ratios["first"]:.2f} s, call {ratios["call"]:.3f}, clock '
              f'{ratios["clock"]:.3f}; base step {ratios["base_step_ms"]:.2f} ms, tracked '
              f'step {1e3 * (watched["steady"] - ref["steady"]) / (n // every):.0f} ms extra',
              flush=True)
        base = after
  return results


def main(argv):
  del argv
  import jax
  logging.set_verbosity(logging.WARNING)  # Not the final checkpoint's INFO lines, per run.
  sets = [s.strip().lower() for s in FLAGS.sets]
  everies = [int(e) for e in FLAGS.every]
  started = time.time()
  print(f'instrument_overhead: {datetime.date.today()}, {platform.node()}, '
        f'{os.cpu_count()} CPUs, JAX {jax.__version__} on {jax.devices()[0].platform}; '
        f'sets {",".join(sets)}, every {",".join(map(str, everies))}, '
        f'{FLAGS.repeats} repeats', flush=True)
  table = []
  for name in FLAGS.workloads:
    steps = _per_workload(FLAGS.steps, name, 'steps')
    max_tracked = _per_workload(FLAGS.max_tracked, name, 'max_tracked')
    if steps % max(everies) or max_tracked < 1:
      raise app.UsageError(f'--steps for {name} ({steps}) must be a multiple of the largest '
                           f'--every ({max(everies)}), --max_tracked ≥ 1')
    bench = Bench(name)
    try:
      warm = time.perf_counter()
      bench.run(2)
      for quantities in sets:
        bench.run(1, quantities, 2)  # One observation (step 0), its compile.
      print(f'{name}: warm-up {time.perf_counter() - warm:.0f} s', flush=True)
    except DatasetUnavailableError as e:
      print(f'{name}: skipped, its data is not available here: {e}', flush=True)
      continue
    results = measure(bench, steps, max_tracked, sets, everies)
    for (quantities, every), rows in results.items():
      med = {m: statistics.median(r[m] for r in rows)
             for m in ('run', 'steady', 'first', 'call', 'clock', 'base_step_ms')}
      table.append((name, quantities, every, min(steps, every * max_tracked), len(rows), med))
  print(f'\n{time.time() - started:.0f} s in all. Medians over repeats; goals on the steady '
        'factor; factor = steps 0..S including the compile at step 0.\n')
  print('| workload | set | every | S | repeats | factor | steady | first step | call | '
        'clock | base step | Cockpit (GPU) | goal | met? |')
  print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for name, quantities, every, n, count, med in table:
    cell = (quantities, every)
    met = '' if cell not in GOALS else ('yes' if med['steady'] <= GOALS[cell] else 'no')
    cockpit = f'{COCKPIT[cell]:g}×' if cell in COCKPIT else '—'
    print(f'| {name} | {quantities} | {every} | {n} | {count} | {med["run"]:.3g} | '
          f'{med["steady"]:.3g} | +{med["first"]:.1f} s | {med["call"]:.3g} | '
          f'{med["clock"]:.3f} | {med["base_step_ms"]:.2f} ms | {cockpit} | '
          f'{_fmt_goal(cell)} | {met} |')
  print()
  for name, quantities, every, _, _, med in table:
    print(f'RESULT instrument_overhead_{name}_{quantities}_every{every} {med["run"]:.4g}')
  for name, quantities, every, _, _, med in table:
    print(f'RESULT instrument_overhead_steady_{name}_{quantities}_every{every} '
          f'{med["steady"]:.4g}')


if __name__ == '__main__':
  app.run(main)
