"""A suite run on a machine slower than the baselines': the probe is kept with the run, the
progress line gives an estimate, and the leaderboard page says, at the top, that the
comparison is not like-for-like (with the factor, normalised times and the re-recording
command). The probe itself is faked (a 2.8x slower machine); no test asserts real speed."""

import json
import os

import numpy as np
import pytest

from algoperf import speed_compare, suite_runner
from algoperf import suite as suite_lib
from workloads import registry
from workloads.mnist1d import input_pipeline as mnist1d_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = suite_lib.load_suite(suite_lib.LITE)
NADAMW = os.path.join(ROOT, 'reference_algorithms', 'nadamw', 'submission.py')
FIXED = os.path.join(ROOT, 'reference_algorithms', 'nadamw', 'tuning_search_space_fixed.json')


def _probe(steps_per_sec, **extra):
  return {'date': '2025-01-01', 'hostname': 'h', 'cpu_count': 2,
          'load_average_before': [0.1, 0.1, 0.1], 'workloads': {'mnist1d': {
              'batch_size': 128, 'steps_per_sec': steps_per_sec, 'unstable': False,
              'setup_sec': 1.0, 'compile_sec': 1.0, 'eval_sec': 0.5}}, **extra}


@pytest.fixture
def baselines(tmp_path):
  folder = tmp_path / 'stored'
  (folder / 'runs').mkdir(parents=True)
  (folder / 'manifest.json').write_text(json.dumps({
      'algorithms': {'nadamw': {}}, 'probes': {'missing': ['nadamw']}}))
  (folder / 'reference_probe.json').write_text(json.dumps(
      _probe(1400.0, note='probed on a machine of the same kind, not the recording one')))
  return os.fspath(folder / 'runs')


def test_a_slower_machine_is_said_so_in_the_record_progress_and_leaderboard(tmp_path,
                                                                             baselines):
  data_dir = os.fspath(tmp_path / 'data')
  path = mnist1d_pipeline.cache_path(data_dir)
  os.makedirs(os.path.dirname(path))
  np.savez(path, **mnist1d_pipeline.generate(6_000))
  config = suite_runner.SuiteRunConfig(
      submission_path=NADAMW, experiment_dir=os.fspath(tmp_path / 'exp'),
      tuning_search_space=FIXED, num_tuning_trials=1, workloads=('mnist1d',), rng_seed=3,
      data_dir=data_dir, max_global_steps=4, show_progress=False, isolate_trials=False)
  probe = _probe(500.0)
  lines = []
  runs = suite_runner.run_suite(SUITE, config, registry.get_workload,
                                registry.base_workload_name, print_fn=lines.append,
                                probe_fn=lambda names: probe)
  assert 'estimate: at most ~' in lines[0]
  record = json.loads((tmp_path / 'exp' / 'runs' / 'nadamw' / 'suite_run.json').read_text())
  assert record['machine_probes'] == [probe]

  per_trial = suite_runner.trial_estimates(SUITE, ['mnist1d'], registry.get_workload, probe)
  notices = speed_compare.suite_notices(probe, baselines, ['mnist1d'], per_trial, 1, 'nadamw',
                                        runs, normalize=True, rerecord_dir='here')
  terminal = '\n'.join(speed_compare.text(n) for n in notices)
  assert 'mnist1d: this machine is 2.80x slower' in terminal
  assert 'python baselines/regenerate.py --algorithms=nadamw --workloads=mnist1d' in terminal
  assert 'Hardware-normalised times (APPROXIMATION' in terminal

  _, written = suite_runner.score_suite(SUITE, config.experiment_dir, None, analyse=False,
                                        notices=notices)
  page = open(next(p for p in written if p.endswith('leaderboard.html'))).read()
  top = page[:page.index('<h2>Benchmark scores</h2>')]
  assert 'class="notice"' in top and 'NOT like-for-like' in top
  assert '2.80x slower' in top and 'Hardware-normalised times' in top
  assert '<h2>Time to target per workload</h2>' in page  # the raw times stay as they are
