"""How fast is this machine, per workload? A short, fixed speed probe.

A time to target means something only next to times measured at the same speed: the lite
suite compares a run on this machine with baselines recorded on another. The probe runs
the reference algorithm's compiled train step (NAdamW at the first point of its fixed
list) at the workload's batch size for a few seconds, `repeats` times, and one eval pass,
and reports steps/s with the spread over the repeats. Repeats go round-robin over the
workloads, so a load that comes and goes shows up as spread rather than as a bias against
one workload. docs/machine_probe.md says how to read it; `speed_compare` uses it.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

PROBE_FILE = 'machine_probe.json'
DEFAULT_SECONDS = 1.0  # measured seconds per repeat and workload
DEFAULT_REPEATS = 3
# A workload whose steps/s spread ((max - min) / median over repeats) exceeds this is
# unstable: the machine's speed changed while it was measured (other jobs, throttling).
UNSTABLE_SPREAD = 0.10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBMISSION = os.path.join('reference_algorithms', 'nadamw', 'submission.py')
SEARCH_SPACE = os.path.join('reference_algorithms', 'nadamw', 'tuning_search_space_fixed.json')
REFERENCE_ALGORITHM = f'nadamw (point 1 of {SEARCH_SPACE})'


class ReferenceStep:
  """NAdamW's jitted train step on one workload with its train queue: set up, compiled by
  one step (timed as `compile_sec`), then run in blocks with one device sync per block.

  Also the "bare" arm of benchmarks/runner_overhead.py.
  """

  def __init__(self, workload_name: str, data_dir: str = '', batch_size: int | None = None,
               submission_path: str = SUBMISSION, hparams: Any = None, seed: int = 0,
               workload: Any = None):
    import jax
    import numpy as np

    from algoperf import submission, tuning
    from workloads import registry

    start = time.perf_counter()
    self._jax = jax
    sub = submission.load_submission(os.path.join(ROOT, submission_path))
    if hparams is None:
      space = tuning.load_search_space(os.path.join(ROOT, SEARCH_SPACE))
      hparams = tuning.study_points(space, 1, 0, pool_seed=0)[0]
    self.workload = workload or registry.get_workload(workload_name)
    self.batch_size = batch_size or submission.resolve_batch_size(
        sub, workload_name, registry.base_workload_name(workload_name),
        self.workload.default_batch_size, jax.device_count())
    self._data_dir = data_dir
    data_rng, opt_rng, model_rng, self._eval_rng = jax.random.split(jax.random.PRNGKey(seed), 4)
    self._queue = self.workload._build_input_queue(data_rng, 'train', data_dir, self.batch_size)
    self._params, self._model_state = self.workload.init_model_fn(model_rng)
    self._opt_state, self._steps = sub.init_optimizer_state(
        self.workload, self._params, self._model_state, hparams, opt_rng)
    self._key = np.asarray(jax.random.PRNGKey(1))
    self.setup_sec = time.perf_counter() - start
    start = time.perf_counter()
    self.run(1)
    self.compile_sec = time.perf_counter() - start

  def run(self, num_steps: int) -> None:
    """`num_steps` train steps, then wait for the device."""
    for _ in range(num_steps):
      self._params, self._model_state, self._opt_state, _, _ = self._steps.train(
          self._params, self._model_state, self._opt_state, next(self._queue), self._key)
    self._jax.block_until_ready((self._params, self._model_state, self._opt_state))

  def evaluate(self) -> float:
    """Seconds of one eval pass over the workload's splits (its compilation included)."""
    start = time.perf_counter()
    self.workload.eval_model(self.workload.eval_batch_size, self._params, self._model_state,
                             self._eval_rng, self._data_dir, None, 0)
    return time.perf_counter() - start


def measure_rate(run: Callable[[int], None], seconds: float,
                 clock: Callable[[], float] = time.perf_counter) -> float:
  """Steps/s of `run(n)` over about `seconds`, in blocks of about a tenth of that."""
  steps, block, start = 0, 1, clock()
  elapsed = 0.0
  while elapsed < seconds:
    run(block)
    steps += block
    elapsed = clock() - start
    rate = steps / max(elapsed, 1e-9)
    block = max(1, min(int(rate * seconds / 10), 10 * block))
  return steps / elapsed


def spread(rates: Sequence[float]) -> float:
  """(max - min) / median: how much the speed moved over the repeats."""
  return (max(rates) - min(rates)) / statistics.median(rates)


def machine_facts() -> dict[str, Any]:
  """Who was probed, and how busy it was (load average over 1, 5, 15 min)."""
  facts = {'date': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
           'hostname': socket.gethostname(), 'platform': platform.platform(),
           'cpu_count': os.cpu_count(), 'load_average': list(os.getloadavg())}
  if 'jax' in sys.modules:
    jax = sys.modules['jax']
    facts.update(device_kind=jax.devices()[0].device_kind, jax_version=jax.__version__)
  return facts


def probe(workloads: Sequence[str], data_dir: str = '', seconds: float = DEFAULT_SECONDS,
          repeats: int = DEFAULT_REPEATS, make_step: Callable[..., Any] = ReferenceStep,
          clock: Callable[[], float] = time.perf_counter,
          print_fn: Callable[[str], None] | None = None) -> dict[str, Any]:
  """Probe each workload (a workload that cannot be set up gets an `error`); a JSON-able dict.

  `make_step(name, data_dir)` and `clock` are seams for tests (a fake, slowed-down step).
  """
  say = print_fn or (lambda _: None)
  result = {'reference_algorithm': REFERENCE_ALGORITHM, 'seconds_per_repeat': seconds,
            'repeats': repeats, 'unstable_spread': UNSTABLE_SPREAD, 'workloads': {}}
  before = machine_facts()
  steps, rates = {}, {}
  for name in workloads:
    say(f'probing {name}: set-up, compile, one eval ...')
    try:
      step = make_step(name, data_dir)
      steps[name], rates[name] = step, []
      result['workloads'][name] = {
          'batch_size': step.batch_size, 'setup_sec': round(step.setup_sec, 3),
          'compile_sec': round(step.compile_sec, 3), 'eval_sec': round(step.evaluate(), 3)}
    except Exception as e:  # Missing data: the suite reports it at that workload.
      result['workloads'][name] = {'error': f'{type(e).__name__}: {e}'}
  for repeat in range(repeats):
    say(f'probing: repeat {repeat + 1}/{repeats} of {seconds:g} s per workload ...')
    for name, step in steps.items():
      rates[name].append(measure_rate(step.run, seconds, clock))
  for name, rs in rates.items():
    result['workloads'][name].update(
        steps_per_sec=round(statistics.median(rs), 2), repeats_steps_per_sec=[
            round(r, 2) for r in rs], spread=round(spread(rs), 4),
        unstable=spread(rs) > UNSTABLE_SPREAD)
  after = machine_facts()
  result.update({k: v for k, v in before.items() if k != 'load_average'},
                load_average_before=before['load_average'],
                load_average_after=after['load_average'])
  return result


def table_lines(result: dict[str, Any]) -> list[str]:
  """A short terminal table of a probe, unstable workloads marked."""
  load = '/'.join(f'{x:.2f}' for x in result['load_average_before'])
  lines = [f'Machine probe ({result["reference_algorithm"]}; {result["repeats"]} x '
           f'{result["seconds_per_repeat"]:g} s): {result["hostname"]}, '
           f'{result["cpu_count"]} CPUs, load average {load} (1/5/15 min) before',
           f'  {"workload":<24} {"batch":>5} {"steps/s":>9} {"spread":>7} {"compile":>8} '
           f'{"eval":>6}']
  for name, w in result['workloads'].items():
    if 'error' in w:
      lines.append(f'  {name:<24} not probed: {w["error"]}')
      continue
    flag = (f'  UNSTABLE (spread > {result["unstable_spread"]:.0%})' if w['unstable'] else '')
    lines.append(f'  {name:<24} {w["batch_size"]:>5} {w["steps_per_sec"]:>9.1f} '
                 f'{w["spread"]:>7.1%} {w["compile_sec"]:>7.1f}s {w["eval_sec"]:>5.1f}s{flag}')
  return lines
