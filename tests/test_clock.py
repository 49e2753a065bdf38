"""The submission clock's sync rule (docs/runner_rules.md rule 2) and the one-step-in-flight `StepSync`."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import toy_workload  # noqa: E402

from algoperf import clock, runner, submission  # noqa: E402

SGD = os.path.join(os.path.dirname(__file__), 'submissions', 'sgd.py')


class FakeTimer:
  """A timer the test moves by hand."""

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_ready_token_is_ready_only_after_every_input():
  a = jnp.ones((1500, 1500)) / 1500
  slow = jax.jit(lambda a: a @ a @ a @ a @ a @ a)
  slow(a).block_until_ready()  # compile
  for _ in range(3):
    heavy, light = slow(a), a + 1
    token = clock.ready_token({'heavy': heavy, 'light': light, 'not_an_array': 'steps'})
    token.block_until_ready()
    assert heavy.is_ready() and light.is_ready()


def test_ready_token_outlives_donation_of_its_inputs():
  x = jnp.ones(8)
  token = clock.ready_token([x])
  jax.jit(lambda v: v * 2, donate_argnums=0)(x)
  token.block_until_ready()  # No error: the token does not refer to the donated buffer.


def test_ready_token_declines_arrays_on_different_devices():
  code = textwrap.dedent("""
      import jax, jax.numpy as jnp
      from algoperf import clock
      d0, d1 = jax.devices()[:2]
      mixed = [jax.device_put(jnp.ones(2), d0), jax.device_put(jnp.ones(2), d1)]
      print(clock.ready_token(mixed) is None, clock.ready_token(mixed[:1]) is not None)
  """)
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                       check=True).stdout
  assert out.split() == ['True', 'True']


def _sync_after_steps(step_times):
  """A StepSync whose clock has lapped once after each of the given step times."""
  timer = FakeTimer()
  sub_clock = clock.SubmissionClock(timer=timer)
  sync = clock.StepSync(sub_clock, margin=2.0)
  sub_clock.start()
  for dt in step_times:
    timer.now += dt
    sync.lap(None)
  return timer, sub_clock, sync


def test_step_sync_defers_only_when_the_step_ends_well_before_the_deadline():
  state = [jnp.ones(3)]
  _, _, sync = _sync_after_steps([0.5])
  assert not sync.defer(state, deadline=100.0)  # One lap: no step time known yet.

  _, _, sync = _sync_after_steps([0.5, 1.0])  # billed 1.5 s, last step 1.0 s
  assert sync.step_sec == 1.0
  assert not sync.defer(state, deadline=3.5)  # 1.5 + 2 x 1.0 reaches the deadline.
  assert sync.defer(state, deadline=3.6)

  _, sub_clock, _ = _sync_after_steps([0.5, 1.0])
  disabled = clock.StepSync(sub_clock, enabled=False)
  disabled.lap(None)
  disabled.lap(None)
  assert not disabled.defer(state, deadline=1e9)


def test_step_sync_settle_bills_the_deferred_step_and_measures_it():
  timer, sub_clock, sync = _sync_after_steps([0.5, 1.0])
  assert sync.settle() is None  # Nothing deferred.
  assert sync.defer([jnp.ones(3)], deadline=10.0)
  timer.now += 0.25  # The next step's host work, then the deferred step finishes.
  assert sync.settle() == 1.75
  assert sync.step_sec == 0.25
  assert sync.settle() is None  # Settled once.
  assert sub_clock.running


def _run(workload, defer_enabled, monkeypatch, steps=40):
  deferred = []
  real_defer = clock.StepSync.defer

  def counting_defer(self, state, deadline):
    if not defer_enabled:
      return False
    ok = real_defer(self, state, deadline)
    deferred.append(ok)
    return ok

  monkeypatch.setattr(clock.StepSync, 'defer', counting_defer)
  result = runner.run_trial(runner.TrialConfig(
      workload=workload, workload_name='toy', submission=submission.load_submission(SGD),
      hyperparameters=None, seed=0, global_batch_size=32, eval_batch_size=64,
      budget_sec=1e9, max_global_steps=steps, show_progress=False))
  return result, sum(deferred)


def test_deferring_the_sync_changes_timing_only(monkeypatch):
  """Same seed with and without steps in flight: same evals at the same steps, same params."""
  def workload():
    return toy_workload.ToyRegressionWorkload(validation_target=-1.0, test_target=-1.0,
                                              eval_period_sec=1e9)

  pipelined, num_deferred = _run(workload(), True, monkeypatch)
  synced, _ = _run(workload(), False, monkeypatch)
  assert num_deferred > 30  # Steps 3..39 ran with the host one step ahead.
  assert [s for s, _ in pipelined.eval_results] == [s for s, _ in synced.eval_results] == [1, 40]
  for a, b in zip(jax.tree.leaves(pipelined.params), jax.tree.leaves(synced.params),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
