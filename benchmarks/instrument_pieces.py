r"""Where a tracked step's time goes: one instrument observation per group of quantities,
timed alone against a batch gradient of the same workload, in one process.

`instrument_overhead.py` measures whole runs; this script explains its numbers. Per
workload (the lite workload's own input pipeline, batch 128, params at init and a second
point 1% smaller as the step's end), it builds `Instruments` for each group below and times
`observe()` (compiled once, then the median of --repeats calls, the groups taking turns so
that the machine's load hits all alike), and a jitted batch gradient of the same eval-mode
loss as the unit:

  basics        loss, grad_norm, update_size, distance (one vjp)
  alpha         + two jvps along the step
  tests         norm/inner/ortho tests: the per-example gradient pass
  hist_1d       the pass with the 1-D histogram of B·D entries
  economy       Cockpit's set
  hess_trace    30 Hutchinson HVPs (vmapped in blocks)
  hess_max_ev   30 Lanczos steps (unrolled in jitted blocks)
  business, full

  python benchmarks/instrument_pieces.py                  # both workloads, ~5 min
  python benchmarks/instrument_pieces.py --workloads=mnist1d --groups=economy,full

Output: a table, and lines `RESULT instrument_piece_<workload>_<group>_ms <ms>` and
`RESULT instrument_piece_<workload>_<group>_grads <ms / batch-gradient ms>`.
"""

from __future__ import annotations

import statistics
import time

from absl import app, flags

GROUPS = {
    'basics': 'loss,grad_norm,update_size,distance',
    'alpha': 'loss,alpha',
    'tests': 'norm_test,inner_test,ortho_test',
    'hist_1d': 'grad_hist_1d',
    'economy': 'economy',
    'hess_trace': 'hess_trace',
    'hess_max_ev': 'hess_max_ev',
    'business': 'business',
    'full': 'full',
}

flags.DEFINE_list('workloads', ['mnist1d', 'fashion_mnist_cnn'], 'Workloads to measure.')
flags.DEFINE_list('groups', list(GROUPS), f'Groups of quantities: {", ".join(GROUPS)}.')
flags.DEFINE_integer('repeats', 5, 'Timed observations per group (median reported).')
flags.DEFINE_integer('batch_size', 128, 'Examples per batch.')
FLAGS = flags.FLAGS


def _timed(fn) -> float:
  import jax
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - start


def measure(workload_name: str, groups: list[str], repeats: int, batch_size: int) -> dict:
  """{'grad': seconds, group: (seconds, compile seconds)} medians for one workload."""
  import jax
  import jax.numpy as jnp

  from algoperf import instruments
  from workloads import registry

  workload = registry.get_workload(workload_name)
  params0, state = workload.init_model_fn(jax.random.PRNGKey(0))
  params1 = jax.tree.map(lambda x: 0.99 * x, params0)
  batch = next(workload._build_input_queue(jax.random.PRNGKey(0), 'train', data_dir='',
                                           global_batch_size=batch_size))
  loss_fn = instruments.per_example_loss_fn(workload, state)
  grad = jax.jit(jax.grad(lambda p: jnp.mean(loss_fn(p, batch, state)[0])))
  calls = {'grad': lambda: grad(params0)}
  for group in groups:
    computer = instruments.Instruments(GROUPS[group], loss_fn)
    calls[group] = (lambda c=computer: c.observe(params0, params1, params0, batch,
                                                jax.random.PRNGKey(1), model_state=state)
                    .scalars)
  compile_s = {name: _timed(call) for name, call in calls.items()}
  times: dict[str, list[float]] = {name: [] for name in calls}
  for _ in range(repeats):
    for name, call in calls.items():
      times[name].append(_timed(call))
  return {name: (statistics.median(ts), compile_s[name]) for name, ts in times.items()}


def main(argv):
  del argv
  unknown = sorted(set(FLAGS.groups) - set(GROUPS))
  if unknown:
    raise app.UsageError(f'--groups: unknown {", ".join(unknown)}; known: {", ".join(GROUPS)}')
  rows = []
  for name in FLAGS.workloads:
    print(f'{name}: compiling and timing {len(FLAGS.groups)} groups ...', flush=True)
    result = measure(name, FLAGS.groups, FLAGS.repeats, FLAGS.batch_size)
    grad_s = result['grad'][0]
    rows.append((name, 'batch gradient', grad_s, 1.0, result['grad'][1]))
    for group in FLAGS.groups:
      seconds, first = result[group]
      rows.append((name, group, seconds, seconds / grad_s, first))
  print('\n| workload | group | ms per observation | batch gradients | first call (s) |')
  print('|---|---|---|---|---|')
  for name, group, seconds, grads, first in rows:
    print(f'| {name} | {group} | {seconds * 1e3:.1f} | {grads:.1f} | {first:.2f} |')
  print()
  for name, group, seconds, grads, _ in rows:
    if group != 'batch gradient':
      print(f'RESULT instrument_piece_{name}_{group}_ms {seconds * 1e3:.2f}')
      print(f'RESULT instrument_piece_{name}_{group}_grads {grads:.2f}')


if __name__ == '__main__':
  app.run(main)
