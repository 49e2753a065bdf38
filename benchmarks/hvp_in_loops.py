r"""Why the instruments' HVPs are `vmap`ped and unrolled, not looped: the same K Hessian-vector
products of a workload's mean loss, arranged three ways, in one process.

  scan      `lax.scan` over the K probes (one HVP in the compiled loop body)
  vmap      `vmap` over the K probes (one batched HVP)
  unrolled  a Python loop inside the jit (K HVPs in straight-line code)

Each arrangement linearises `jax.grad` of the loss once (`jax.linearize`) and applies the
linear map K times, as `algoperf/instruments/engine.py` does. Compiled once, then the median
of --repeats calls, the arrangements taking turns.

  python benchmarks/hvp_in_loops.py                       # both workloads, K = 10, ~2 min
  python benchmarks/hvp_in_loops.py --workloads=fashion_mnist_cnn --probes=30

Output: a table, and lines `RESULT hvp_<workload>_<arrangement>_ms_per_hvp <ms>`.
"""

from __future__ import annotations

import statistics
import time

from absl import app, flags

ARRANGEMENTS = ('scan', 'vmap', 'unrolled')

flags.DEFINE_list('workloads', ['mnist1d', 'fashion_mnist_cnn'], 'Workloads to measure.')
flags.DEFINE_integer('probes', 10, 'Hessian-vector products per call (K).')
flags.DEFINE_integer('repeats', 3, 'Timed calls per arrangement (median reported).')
FLAGS = flags.FLAGS


def arrangements(workload_name: str, probes: int):
  """(arrangement -> jitted fn(params, vectors) -> [K, D] products, params, vectors)."""
  import jax
  import jax.numpy as jnp
  from jax.flatten_util import ravel_pytree

  from algoperf import instruments
  from workloads import registry

  workload = registry.get_workload(workload_name)
  params, state = workload.init_model_fn(jax.random.PRNGKey(0))
  batch = next(workload._build_input_queue(jax.random.PRNGKey(0), 'train', data_dir='',
                                           global_batch_size=128))
  loss_fn = instruments.per_example_loss_fn(workload, state)
  flat, unravel = ravel_pytree(params)
  vectors = jax.random.rademacher(jax.random.PRNGKey(1), (probes, flat.shape[0]),
                                  dtype=flat.dtype)

  def linear_map(p):
    _, hvp = jax.linearize(jax.grad(lambda q: jnp.mean(loss_fn(q, batch, state)[0])), p)
    return lambda v: ravel_pytree(hvp(unravel(v)))[0]

  def scan(p, vs):
    hvp = linear_map(p)
    return jax.lax.scan(lambda carry, v: (carry, hvp(v)), 0, vs)[1]

  def vmap(p, vs):
    return jax.vmap(linear_map(p))(vs)

  def unrolled(p, vs):
    hvp = linear_map(p)
    return jnp.stack([hvp(vs[i]) for i in range(probes)])

  fns = {name: jax.jit(fn) for name, fn in
         zip(ARRANGEMENTS, (scan, vmap, unrolled), strict=True)}
  return fns, params, vectors


def products(workload_name: str, probes: int) -> dict:
  """Each arrangement's K products (they must agree)."""
  fns, params, vectors = arrangements(workload_name, probes)
  return {name: fn(params, vectors) for name, fn in fns.items()}


def measure(workload_name: str, probes: int, repeats: int) -> dict[str, tuple[float, float]]:
  """arrangement -> (median seconds per call, first call seconds incl. compile)."""
  import jax
  fns, params, vectors = arrangements(workload_name, probes)

  def timed(fn):
    start = time.perf_counter()
    jax.block_until_ready(fn(params, vectors))
    return time.perf_counter() - start

  first = {name: timed(fn) for name, fn in fns.items()}
  times: dict[str, list[float]] = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      times[name].append(timed(fn))
  return {name: (statistics.median(times[name]), first[name]) for name in fns}


def main(argv):
  del argv
  rows = []
  for name in FLAGS.workloads:
    print(f'{name}: {FLAGS.probes} HVPs, three arrangements ...', flush=True)
    for arrangement, (seconds, first) in measure(name, FLAGS.probes, FLAGS.repeats).items():
      rows.append((name, arrangement, seconds, first))
  print('\n| workload | arrangement | ms per call | ms per HVP | first call (s) |')
  print('|---|---|---|---|---|')
  for name, arrangement, seconds, first in rows:
    print(f'| {name} | {arrangement} | {seconds * 1e3:.1f} | '
          f'{seconds * 1e3 / FLAGS.probes:.2f} | {first:.2f} |')
  print()
  for name, arrangement, seconds, _ in rows:
    print(f'RESULT hvp_{name}_{arrangement}_ms_per_hvp {seconds * 1e3 / FLAGS.probes:.3f}')


if __name__ == '__main__':
  app.run(main)
