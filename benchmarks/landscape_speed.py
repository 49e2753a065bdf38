r"""Batched landscape evaluation against the plain per-point loop, in one process.

The cost of a landscape is evaluating many parameter points (61 on a curve, 21×21 on a
plane). `algoperf/landscape/evaluate.py` evaluates a chunk of points per XLA call; this
measures each arrangement on the same points, same examples:

  loop  per point: its params (one jitted call), then the workload's own jitted eval step
        on each eval batch (what calling `eval_model` per point would do) — the baseline
  vmap  `jax.vmap` over a chunk of points: one call per chunk and batch
  map   `lax.map` over a chunk inside one XLA call (points one after another, no Python)

The points are a Bezier curve's 61 points over three randomly initialised parameter
vectors (the cost does not depend on trained values). Every arrangement is compiled and
run once first, then timed --repeats times, the arrangements taking turns in rotating
order; medians are reported, and the ratio loop / arrangement (> 1: faster than the loop).

  python benchmarks/landscape_speed.py            # mnist1d and fashion_mnist_cnn, ~4 min
  python benchmarks/landscape_speed.py --workloads=mnist1d --repeats=5

Output: a table, and lines `RESULT landscape_<workload>_<arrangement>_sec <median s>` and
`RESULT landscape_<workload>_<arrangement>_speedup <loop / arrangement>`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ARRANGEMENTS = ('loop', 'vmap', 'map')

flags.DEFINE_list('workloads', ['mnist1d', 'fashion_mnist_cnn'], 'Workloads to measure.')
flags.DEFINE_list('arrangements', list(ARRANGEMENTS), 'Arrangements (loop is the baseline).')
flags.DEFINE_integer('points', 61, 'Points on the curve.')
flags.DEFINE_integer('repeats', 3, 'Timed evaluations per arrangement (median reported).')
flags.DEFINE_integer('num_examples', 2000,
                     'Examples of each split (train, validation) evaluated per point.')
flags.DEFINE_integer('eval_batch_size', 1000, 'Examples per eval batch.')
flags.DEFINE_integer('max_points_per_chunk', 64, 'Chunk cap of vmap/map.')
FLAGS = flags.FLAGS


def evaluators(workload_name: str):
  """(arrangement -> Evaluator over the same anchors and data, weights of the points)."""
  import jax
  import numpy as np

  from algoperf.landscape import evaluate, geometry
  from workloads import registry

  workload = registry.get_workload(workload_name)
  anchors = [workload.init_model_fn(jax.random.PRNGKey(seed)) for seed in range(3)]
  anchors = [(jax.tree.map(np.asarray, p), s) for p, s in anchors]
  weights = geometry.curve_weights('bezier', 1, np.linspace(0, 1, FLAGS.points))
  out, data = {}, None
  for name in FLAGS.arrangements:
    settings = evaluate.EvalSettings(
        strategy=name, eval_batch_size=FLAGS.eval_batch_size,
        num_train_examples=FLAGS.num_examples, num_validation_examples=FLAGS.num_examples,
        max_points_per_chunk=FLAGS.max_points_per_chunk)
    out[name] = evaluate.Evaluator(workload, anchors, settings, data)
    data = out[name].data
  return out, weights


def main(argv):
  del argv
  import numpy as np
  print(f'{"workload":<20} {"arrangement":<6} {"chunk":>5} {"median s":>9} {"range":>17} '
        f'{"loop/x":>7} {"max |diff|":>10}')
  for workload_name in FLAGS.workloads:
    evals, weights = evaluators(workload_name)
    results = {name: ev.evaluate(weights) for name, ev in evals.items()}  # compile + warm
    times = {name: [] for name in evals}
    order = list(evals)
    for r in range(FLAGS.repeats):
      for name in order[r % len(order):] + order[:r % len(order)]:
        start = time.perf_counter()
        evals[name].evaluate(weights)
        times[name].append(time.perf_counter() - start)
    base = statistics.median(times['loop']) if 'loop' in times else None
    for name, values in times.items():
      median = statistics.median(values)
      diff = (max(float(np.max(np.abs(results[name][k] - results['loop'][k])))
                  for k in results[name]) if 'loop' in results else float('nan'))
      speedup = base / median if base else float('nan')
      print(f'{workload_name:<20} {name:<6} {evals[name].chunk_size:>5} {median:>9.3f} '
            f'{min(values):>8.3f}–{max(values):<8.3f} {speedup:>7.2f} {diff:>10.2e}')
      print(f'RESULT landscape_{workload_name}_{name}_sec {median:.4f}')
      if name != 'loop' and base:
        print(f'RESULT landscape_{workload_name}_{name}_speedup {speedup:.3f}')
    sys.stdout.flush()


if __name__ == '__main__':
  app.run(main)
