"""AlgoPerf's submission_runner flags: all accepted; --skip_evals and --capture_jax_trace do
what AlgoPerf's do; the ones with no effect here are named once when a run sets them."""

import gzip
import json
import pathlib
import re
import subprocess
import sys

import pytest
from absl import flags

from algoperf import algoperf_flags, runner, submission, trace

TESTS_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))
import toy_workload  # noqa: E402

# Every flag AlgoPerf's submission_runner.py defines (v0.5 and v0.6), read from its source.
ALGOPERF_FLAGS = [
    'submission_path', 'workload', 'tuning_ruleset', 'tuning_search_space',
    'num_tuning_trials', 'data_dir', 'imagenet_v2_data_dir',
    'librispeech_tokenizer_vocab_path', 'framework', 'torch_compile', 'experiment_dir',
    'experiment_name', 'save_checkpoints', 'save_intermediate_checkpoints', 'resume_last_run',
    'append_timestamp', 'use_wandb', 'profile', 'max_global_steps', 'overwrite',
    'hparam_start_index', 'hparam_end_index', 'rng_seed', 'set_pytorch_max_split_size',
    'pytorch_eval_num_workers', 'fixed_space', 'skip_evals', 'capture_jax_trace']


def test_every_algoperf_flag_is_accepted():
  # Read from --helpfull in a process of its own: importing the CLI here would define its
  # flags a second time beside the other CLIs' the test session imports.
  done = subprocess.run([sys.executable, str(REPO_ROOT / 'submission_runner.py'),
                         '--helpfull'], capture_output=True, text=True, timeout=120)
  defined = set(re.findall(r'^\s+--(?:\[no\])?(\w+):', done.stdout, re.MULTILINE))
  missing = [name for name in ALGOPERF_FLAGS if name not in defined]
  assert not missing and len(defined) > len(ALGOPERF_FLAGS)


def test_no_effect_notice_names_only_the_flags_given():
  values = flags.FlagValues()
  algoperf_flags.define_no_effect_flags(values)
  values(['prog'])
  assert algoperf_flags.no_effect_notice(values) is None
  values = flags.FlagValues()
  algoperf_flags.define_no_effect_flags(values)
  values(['prog', '--use_wandb', '--pytorch_eval_num_workers=4'])
  notice = algoperf_flags.no_effect_notice(values)
  assert notice.startswith('note: accepted for AlgoPerf compatibility but no effect here: ')
  assert '--use_wandb' in notice and '--pytorch_eval_num_workers' in notice
  assert '--torch_compile' not in notice


def test_command_line_with_pytorch_flags_runs_and_says_so_once():
  done = subprocess.run(
      [sys.executable, str(REPO_ROOT / 'submission_runner.py'), '--workload=no_such_workload',
       '--submission_path=x.py', '--set_pytorch_max_split_size', '--pytorch_eval_num_workers=2'],
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
  # Accepted (no "Unknown command line flag"); the run then stops at the unknown workload.
  assert 'Unknown command line flag' not in done.stderr
  assert done.stderr.count('no effect here') == 1
  assert '--set_pytorch_max_split_size' in done.stderr and 'no_such_workload' in done.stderr


def _trial(tmp_path, steps, **options):
  sub = submission.load_submission(str(TESTS_DIR / 'submissions' / 'sgd.py'))
  workload = toy_workload.ToyRegressionWorkload(validation_target=1e9, test_target=1e9,
                                                eval_period_sec=0.0, budget_sec=60.0)
  try:
    return runner.run_trial(runner.TrialConfig(
        workload=workload, workload_name='toy', submission=sub, hyperparameters=None,
        seed=0, global_batch_size=32, eval_batch_size=64, budget_sec=60.0,
        log_dir=str(tmp_path), max_global_steps=steps, save_checkpoints=False,
        show_progress=False, **options))
  finally:
    sub.unload()


def test_skip_evals_evaluates_only_when_the_trial_ends(tmp_path):
  # Eval period 0 and a target any eval meets: without the flag the trial stops after its
  # first eval; with it, the trial runs all its steps and evaluates once, at the end.
  plain = _trial(tmp_path / 'plain', 12)
  assert plain.global_step == 1 and [s for s, _ in plain.eval_results] == [1]
  result = _trial(tmp_path / 'skip', 12, skip_evals=True)
  assert result.global_step == 12 and [s for s, _ in result.eval_results] == [12]
  assert result.validation_target_reached  # the final eval still counts


@pytest.mark.parametrize('steps', [trace.TRACE_FIRST_STEP + trace.TRACE_NUM_STEPS + 3,
                                   trace.TRACE_FIRST_STEP + 2])
def test_capture_jax_trace_writes_a_profiler_trace(tmp_path, steps):
  result = _trial(tmp_path, steps, capture_jax_trace=True, stop_at_targets=False)
  assert result.global_step == steps
  folder = tmp_path / trace.TRACE_DIR
  assert list(folder.rglob('*.xplane.pb'))
  (perfetto,) = folder.rglob('*.trace.json.gz')
  events = json.loads(gzip.decompress(perfetto.read_bytes()))
  events = events['traceEvents'] if isinstance(events, dict) else events
  assert len(events) > 10
