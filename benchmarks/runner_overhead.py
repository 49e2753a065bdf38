r"""How much slower is a step under the runner than in a bare jitted loop?

For each MLP workload, in one process and alternating, it times:
  runner:   `run_trial` with NAdamW (evals only after step 1 and at the end, both outside
            the measured window); time = submission time between those two evals;
  logged:   `runner` with a log folder (NAdamW then logs its training loss every 100 steps);
  isolated: the same trial as a user's study runs it: in a trial process of its own, under
            the watchdog (`algoperf.isolation`), logging; time read from its
            eval_measurements.csv;
  bare:     the same compiled NAdamW train step, the same input pipeline and batches, in a
            plain Python loop with one device sync at the end.
The ratio runner/bare (median over repeats, the order alternating) is the runner's
per-step overhead: per-step keys, data_selection/update_params dispatch, the device sync
before each clock read (on the previous step where `clock.StepSync` defers it). The ratio
isolated/logged is what per-trial isolation adds to the step loop.
The last lines are `RESULT runner_overhead_ratio <ratio>` and
`RESULT isolation_overhead_ratio <ratio>` (worst workload each).

  python benchmarks/runner_overhead.py --steps=3000 --repeats=7
"""

import csv
import functools
import os
import statistics
import tempfile
import time

import overhead_workloads
from absl import app, flags

from algoperf import isolation, runner, speed_probe, submission, trial_job, tuning

flags.DEFINE_list('workloads', ['mnist1d', 'fashion_mnist'], 'MLP workloads to measure.')
flags.DEFINE_integer('steps', 3000, 'Measured steps per run.')
flags.DEFINE_integer('repeats', 7, 'Alternating runner/bare repeats per workload.')
FLAGS = flags.FLAGS

SUBMISSION = 'reference_algorithms/nadamw/submission.py'
SPACE = 'reference_algorithms/nadamw/tuning_search_space_fixed.json'
BATCH_SIZE = 128


def _hparams():
  return tuning.study_points(tuning.load_search_space(SPACE), 1, 0, pool_seed=0)[0]


def time_runner(name, sub, hp, log_dir=None) -> float:
  workload = overhead_workloads.without_evals(name)
  result = runner.run_trial(runner.TrialConfig(
      workload=workload, workload_name=name, submission=sub, hyperparameters=hp, seed=0,
      global_batch_size=BATCH_SIZE, eval_batch_size=workload.eval_batch_size,
      budget_sec=1e9, max_global_steps=FLAGS.steps + 1, show_progress=False,
      stop_at_targets=False, log_dir=log_dir, save_checkpoints=False))
  (first_step, first), (last_step, last) = [
      (s, r['accumulated_submission_time']) for s, r in result.eval_results]
  assert (first_step, last_step) == (1, FLAGS.steps + 1), result.eval_results
  return last - first


def time_runner_logged(name, sub, hp) -> float:
  """`time_runner` with a log folder, as `time_isolated` has: NAdamW then logs its loss
  every 100 steps (a device sync and a CSV row), which the isolated arm pays too."""
  with tempfile.TemporaryDirectory() as log_dir:
    return time_runner(name, sub, hp, log_dir)


def time_isolated(name, sub, hp) -> float:
  with tempfile.TemporaryDirectory() as log_dir:
    result = isolation.run_isolated(trial_job.TrialJob(
        submission_path=sub.path, workload_name=name, base_workload_name=name,
        workload_factory=functools.partial(overhead_workloads.without_evals, name),
        log_dir=log_dir, study_index=0, trial_index=1, seed=0,
        hyperparameters=tuning.hparams_to_dict(hp), budget_sec=1e9,
        tuning_ruleset='external', tuning_search_space=SPACE,
        max_global_steps=FLAGS.steps + 1, save_checkpoints=False, show_progress=False))
    assert result.error is None, result.error
    with open(os.path.join(log_dir, 'eval_measurements.csv'), newline='') as f:
      rows = [(int(r['global_step']), float(r['accumulated_submission_time']))
              for r in csv.DictReader(f)]
  (first_step, first), (last_step, last) = rows
  assert (first_step, last_step) == (1, FLAGS.steps + 1), rows
  return last - first


def time_bare(name, sub, hp) -> float:
  del sub  # ReferenceStep loads the same NAdamW submission.
  step = speed_probe.ReferenceStep(name, batch_size=BATCH_SIZE, hparams=hp)
  start = time.perf_counter()
  step.run(FLAGS.steps)
  return time.perf_counter() - start


def main(argv):
  del argv
  sub = submission.load_submission(SUBMISSION)
  hp = _hparams()
  arms = {'bare': time_bare, 'runner': time_runner, 'logged': time_runner_logged,
          'isolated': time_isolated}
  worst_runner = worst_isolation = 0.0
  for name in FLAGS.workloads:
    runner_ratios, isolation_ratios = [], []
    for repeat in range(FLAGS.repeats):
      # Rotate which goes first, so a drifting machine favours none of them.
      order = list(arms)[repeat % len(arms):] + list(arms)[:repeat % len(arms)]
      times = {arm: arms[arm](name, sub, hp) for arm in order}
      runner_ratios.append(times['runner'] / times['bare'])
      isolation_ratios.append(times['isolated'] / times['logged'])
      print(f'{name}: ' + ', '.join(f'{arm} {FLAGS.steps / t:.0f} steps/s'
                                    for arm, t in times.items())
            + f'; runner/bare {runner_ratios[-1]:.4f}, isolated/logged '
            f'{isolation_ratios[-1]:.4f}', flush=True)
    median_runner = statistics.median(runner_ratios)
    median_isolation = statistics.median(isolation_ratios)
    print(f'{name}: median runner/bare {median_runner:.4f} (range {min(runner_ratios):.3f}-'
          f'{max(runner_ratios):.3f}), median isolated/logged {median_isolation:.4f} (range '
          f'{min(isolation_ratios):.3f}-{max(isolation_ratios):.3f}) over {FLAGS.repeats} '
          'repeats')
    worst_runner = max(worst_runner, median_runner)
    worst_isolation = max(worst_isolation, median_isolation)
  print(f'RESULT runner_overhead_ratio {worst_runner:.4f}')
  print(f'RESULT isolation_overhead_ratio {worst_isolation:.4f}')


if __name__ == '__main__':
  app.run(main)
