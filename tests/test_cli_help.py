"""The CLIs' --help and usage errors, as a user meets them: --help exits 0 and says where
the workloads are; a bad or missing flag prints one `error:` line before anything else."""

import os
import subprocess
import sys

import pytest

from algoperf import suite as suite_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIS = ('run_suite.py', 'score_submissions.py', 'analyze_runs.py', 'submission_runner.py',
        'instrument_dashboard.py', 'diagnose.py')


def _run(*args):
  return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)


@pytest.mark.parametrize('cli', CLIS)
def test_help_exits_zero(cli):
  for flag in ('--help', '-h'):
    proc = _run(cli, flag)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '--output_dir' in proc.stdout or '--experiment_dir' in proc.stdout


def test_run_suite_help_lists_the_workloads():
  out = _run('run_suite.py', '--help').stdout
  suite = suite_lib.load_suite()
  assert 'The list is at the end of' in out  # --workloads points to it.
  tail = out[out.index(f'Workloads of {suite.benchmark_version}'):]
  assert all(name in tail for name in suite.workloads)


def test_submission_runner_help_lists_the_workloads_and_its_rulesets_match():
  from workloads import registry
  out = _run('submission_runner.py', '--help').stdout
  assert all(name in out.split('Workloads:')[-1] for name in registry.workload_names())
  check = ('import submission_runner; from algoperf import tuning; '
           'assert submission_runner.RULESETS == tuple(tuning.RULESETS)')
  assert _run('-c', check).returncode == 0


def test_score_submissions_help_lists_shipped_targets():
  assert 'lite_v1' in _run('score_submissions.py', '--help').stdout.split('flags:')[-1]


def _assert_one_line_error_first(proc, *words):
  assert proc.returncode != 0
  assert proc.stdout == ''  # No help text before (or after) the error.
  first = proc.stderr.splitlines()[0]
  assert first.startswith('error: ') and all(w in first for w in words), proc.stderr
  assert '--help' in proc.stderr


@pytest.mark.parametrize('cli', CLIS)
def test_unknown_flag_is_one_error_line(cli):
  _assert_one_line_error_first(_run(cli, '--no_such_flag=1'), 'no_such_flag')


def test_missing_and_wrong_values_are_one_error_line():
  _assert_one_line_error_first(_run('score_submissions.py'), '--submission_directory')
  _assert_one_line_error_first(_run('run_suite.py', '--progress=sometimes'), 'progress')
  _assert_one_line_error_first(_run('run_suite.py', '--workloads=no_such_workload'),
                               'no_such_workload')
  _assert_one_line_error_first(_run('analyze_runs.py', '--rerun_best_seeds=2'),
                               '--rerun_study')


@pytest.mark.parametrize('cli, target', [('run_suite.py', '--workloads=mnist1d'),
                                         ('submission_runner.py', '--workload=mnist1d')])
@pytest.mark.parametrize('flags, words', [
    (['--instruments=economy,grad_nrom'], ('--instruments', "'grad_nrom'", 'valid sets')),
    (['--instruments=loss', '--instrument_schedule=linear:10:100'],
     ('--instrument_schedule=linear:10:100', 'tracks no step')),
])
def test_bad_instrument_flags_are_one_error_line_before_any_run(cli, target, flags, words):
  proc = _run(cli, '--submission_path=reference_algorithms/nadamw/submission.py', target,
              '--max_global_steps=5', *flags)
  _assert_one_line_error_first(proc, *words)
