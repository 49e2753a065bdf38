"""`train_state`, as a submission that asks for it sees it: every key AlgoPerf's runner
maintains, each holding what AlgoPerf's holds and changing when AlgoPerf's changes."""

import pathlib
import sys
import time
import types

import pytest

from algoperf import runner, submission

TESTS_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

# The keys of `train_state` in AlgoPerf's submission_runner.py (v0.6), read from its source.
ALGOPERF_KEYS = {'validation_goal_reached', 'test_goal_reached', 'is_time_remaining',
                 'last_eval_time', 'training_complete', 'accumulated_submission_time',
                 'accumulated_eval_time', 'accumulated_logging_time', 'last_step_end_time'}
STEPS = 6


@pytest.fixture(scope='module')
def seen(tmp_path_factory):
  sub = submission.load_submission(str(TESTS_DIR / 'submissions' / 'records_train_state.py'))
  assert sub.update_params_accepts_train_state
  # An easy target, no early stop: the goal flags flip at the first eval (after step 1),
  # and an eval period no run reaches: the evals come after step 1 and at the end.
  workload = toy_workload.ToyRegressionWorkload(validation_target=1e9, test_target=1e9,
                                                eval_period_sec=1e9, budget_sec=60.0)
  started = time.time()
  try:
    result = runner.run_trial(runner.TrialConfig(
        workload=workload, workload_name='toy', submission=sub, hyperparameters=None,
        seed=0, global_batch_size=32, eval_batch_size=64, budget_sec=60.0,
        log_dir=str(tmp_path_factory.mktemp('train_state')), max_global_steps=STEPS,
        save_checkpoints=False, show_progress=False, stop_at_targets=False))
    records = list(sub.module.SEEN)
  finally:
    sub.unload()
  assert [step for step, _, _ in records] == list(range(STEPS))
  return started, records, result


def test_has_every_algoperf_key(seen):
  _, records, _ = seen
  for _, state, _ in records:
    assert ALGOPERF_KEYS <= set(state)


def test_last_step_end_time_is_the_wall_time_the_previous_step_ended(seen):
  started, records, _ = seen
  ends = [state['last_step_end_time'] for _, state, _ in records]
  calls = [called for _, _, called in records]
  assert all(isinstance(t, float) for t in ends)
  assert started <= ends[0] <= calls[0]            # the trial's start before the first step
  for step in range(1, STEPS):
    assert calls[step - 1] < ends[step] <= calls[step]  # set after the previous call
  assert ends == sorted(ends) and len(set(ends)) == STEPS  # updated at every step


def test_eval_times_change_at_each_eval(seen):
  _, records, _ = seen
  before_eval, after_eval = records[0][1], records[1][1]
  assert before_eval['last_eval_time'] == 0 and before_eval['accumulated_eval_time'] == 0
  assert before_eval['accumulated_logging_time'] == 0
  # The first eval ran between step 0 and step 1 (wall clock, as AlgoPerf's time.time()).
  assert records[0][2] < after_eval['last_eval_time'] <= after_eval['last_step_end_time']
  assert after_eval['accumulated_eval_time'] > 0
  assert after_eval['accumulated_logging_time'] > 0  # eval row and checkpoint written
  # No other eval until the end: nothing changes in between.
  for _, state, _ in records[2:]:
    for key in ('last_eval_time', 'accumulated_eval_time', 'accumulated_logging_time'):
      assert state[key] == after_eval[key]


def test_submission_time_and_flags(seen):
  _, records, result = seen
  times = [state['accumulated_submission_time'] for _, state, _ in records]
  assert times[0] == 0 and times == sorted(times) and times[-1] > 0
  assert times[-1] <= result.submission_time
  assert all(state['is_time_remaining'] for _, state, _ in records)
  assert not any(state['training_complete'] for _, state, _ in records)
  goals = [(state['validation_goal_reached'], state['test_goal_reached'])
           for _, state, _ in records]
  assert goals == [(False, False)] + [(True, True)] * (STEPS - 1)


def test_is_read_only_for_the_submission():
  state = types.MappingProxyType(runner._fresh_train_state())
  with pytest.raises(TypeError):
    state['is_time_remaining'] = False  # type: ignore[index]
