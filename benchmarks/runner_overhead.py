r"""How much slower is a step under the runner than in a bare jitted loop?

For each MLP workload, in one process and alternating, it times:
  runner: `run_trial` with NAdamW (evals only after step 1 and at the end, both outside
          the measured window); time = submission time between those two evals;
  bare:   the same compiled NAdamW train step, the same input pipeline and batches, in a
          plain Python loop with one device sync at the end.
The ratio runner/bare (median over repeats, the order alternating) is the runner's
per-step overhead: per-step keys, data_selection/update_params dispatch, the device sync
before each clock read (on the previous step where `clock.StepSync` defers it).
The last line is `RESULT runner_overhead_ratio <ratio>` (worst workload).

  python benchmarks/runner_overhead.py --steps=3000 --repeats=7
"""

import statistics
import time

import jax
import numpy as np
from absl import app, flags

from algoperf import runner, submission, tuning
from workloads import registry

flags.DEFINE_list('workloads', ['mnist1d', 'fashion_mnist'], 'MLP workloads to measure.')
flags.DEFINE_integer('steps', 3000, 'Measured steps per run.')
flags.DEFINE_integer('repeats', 7, 'Alternating runner/bare repeats per workload.')
FLAGS = flags.FLAGS

SUBMISSION = 'reference_algorithms/nadamw/submission.py'
SPACE = 'reference_algorithms/nadamw/tuning_search_space_fixed.json'
BATCH_SIZE = 128


def _hparams():
  return tuning.study_points(tuning.load_search_space(SPACE), 1, 0, pool_seed=0)[0]


def time_runner(name, sub, hp) -> float:
  workload = registry.get_workload(name)
  workload.EVAL_PERIOD_SEC = 1e9  # evals off: only after step 1 and at the end
  result = runner.run_trial(runner.TrialConfig(
      workload=workload, workload_name=name, submission=sub, hyperparameters=hp, seed=0,
      global_batch_size=BATCH_SIZE, eval_batch_size=workload.eval_batch_size,
      budget_sec=1e9, max_global_steps=FLAGS.steps + 1, show_progress=False,
      stop_at_targets=False))
  (first_step, first), (last_step, last) = [
      (s, r['accumulated_submission_time']) for s, r in result.eval_results]
  assert (first_step, last_step) == (1, FLAGS.steps + 1), result.eval_results
  return last - first


def time_bare(name, sub, hp) -> float:
  workload = registry.get_workload(name)
  data_rng, opt_rng, model_rng, _ = jax.random.split(jax.random.PRNGKey(0), 4)
  queue = workload._build_input_queue(data_rng, 'train', '', BATCH_SIZE)
  params, model_state = workload.init_model_fn(model_rng)
  opt_state, steps = sub.init_optimizer_state(workload, params, model_state, hp, opt_rng)
  key = np.asarray(jax.random.PRNGKey(1))
  params, model_state, opt_state, _, _ = steps.train(
      params, model_state, opt_state, next(queue), key)
  jax.block_until_ready(params)
  start = time.perf_counter()
  for _ in range(FLAGS.steps):
    params, model_state, opt_state, _, _ = steps.train(
        params, model_state, opt_state, next(queue), key)
  jax.block_until_ready((params, model_state, opt_state))
  return time.perf_counter() - start


def main(argv):
  del argv
  sub = submission.load_submission(SUBMISSION)
  hp = _hparams()
  worst = 0.0
  for name in FLAGS.workloads:
    ratios = []
    for repeat in range(FLAGS.repeats):
      if repeat % 2:  # Alternate which goes first, so a drifting machine favours neither.
        ran, bare = time_runner(name, sub, hp), time_bare(name, sub, hp)
      else:
        bare, ran = time_bare(name, sub, hp), time_runner(name, sub, hp)
      ratios.append(ran / bare)
      print(f'{name}: bare {FLAGS.steps / bare:.0f} steps/s, runner '
            f'{FLAGS.steps / ran:.0f} steps/s, ratio {ran / bare:.4f}', flush=True)
    median = statistics.median(ratios)
    print(f'{name}: median ratio {median:.4f} over {FLAGS.repeats} repeats')
    worst = max(worst, median)
  print(f'RESULT runner_overhead_ratio {worst:.4f}')


if __name__ == '__main__':
  app.run(main)
