"""run_suite.py as a new user meets it: a broken submission stops the suite at once with one
message; Ctrl-C ends it cleanly (exit 130, where it stopped) and the same command resumes,
saying what it keeps."""

import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
MALFORMED = ROOT / 'tests' / 'submissions' / 'malformed'
NADAMW = ROOT / 'reference_algorithms' / 'nadamw'


def _suite_args(tmp_path, submission, space, *extra):
  return [sys.executable, 'run_suite.py', f'--submission_path={submission}',
          f'--tuning_search_space={space}', '--workloads=noisy_quadratic', '--rng_seed=0',
          f'--experiment_dir={tmp_path}', '--noscore', '--progress=off', *extra]


def test_a_broken_submission_stops_the_suite_before_the_first_workload(tmp_path):
  space = tmp_path / 'space.json'
  space.write_text('[{"learning_rate": 0.1}]')
  proc = subprocess.run(
      _suite_args(tmp_path, MALFORMED / 'missing_update_params.py', space),
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2, proc.stdout + proc.stderr
  first = proc.stderr.strip().splitlines()[0]
  assert first.startswith('error: ') and 'update_params: required function is missing' in first
  assert 'Traceback' not in proc.stderr
  assert '[1/1]' not in proc.stdout  # no workload started
  assert not (tmp_path / 'runs').exists()


def test_ctrl_c_is_clean_and_the_same_command_resumes(tmp_path):
  args = _suite_args(tmp_path, NADAMW / 'submission.py',
                     NADAMW / 'tuning_search_space_fixed.json', '--num_tuning_trials=1',
                     '--max_global_steps=20000')
  # SIGINT as a terminal delivers it; a test runner started in the background (as CI may
  # be) hands its children SIGINT ignored, and Python then never raises KeyboardInterrupt.
  proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  checkpoints = (tmp_path / 'runs' / 'nadamw' / 'lite_v1' / 'study_0' / 'noisy_quadratic_jax'
                 / 'trial_1' / 'checkpoints')
  deadline = time.time() + 240
  while not (checkpoints.exists() and any(p.name.isdigit() for p in checkpoints.iterdir())):
    assert proc.poll() is None and time.time() < deadline, proc.communicate()
    time.sleep(0.2)
  proc.send_signal(signal.SIGINT)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, out + err
  assert 'Traceback' not in err
  assert 'interrupted at step' in err and 'of workload noisy_quadratic' in err
  assert 'Rerun the same command to continue' in err

  again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert again.returncode == 0, again.stdout + again.stderr
  assert ('Resuming the run' in again.stdout
          and '1 interrupted trial(s) continue from their last checkpoint' in again.stdout)
  meta = checkpoints.parent / 'meta_data_1.json'
  assert meta.exists() and os.path.getsize(meta)
