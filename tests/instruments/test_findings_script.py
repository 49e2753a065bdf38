"""benchmarks/instrument_findings.py (docs/instrument_findings.md): its stability edges and
learning rates are right, and a smoke run on a handful of steps writes the figures and the
summary."""

import importlib.util
import json
import os
import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'benchmarks' / 'instrument_findings.py'


@pytest.fixture(scope='module')
def findings():
  name = 'instrument_findings_under_test'
  spec = importlib.util.spec_from_file_location(name, SCRIPT)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module  # dataclasses look their module up
  spec.loader.exec_module(module)
  yield module
  sys.modules.pop(name, None)


@pytest.mark.parametrize('beta', [0.0, 0.5, 0.9, 0.99])
@pytest.mark.parametrize('rule', ['sgd', 'momentum', 'nesterov'])
def test_stability_edge_of_the_iteration_matrix_is_the_closed_form(findings, rule, beta):
  # Largest stable η at λ = 1, without weight decay: 2, 2(1+β), 2(1+β)/(1+2β).
  edge = findings.largest_stable(rule, lam=1.0, eta=None, beta=beta, wd=0.0)
  assert edge == pytest.approx(findings.CLOSED_FORM[rule](beta), rel=1e-8)
  # and the same edge read as the largest stable curvature at η = 1
  assert findings.largest_stable(rule, lam=None, eta=1.0, beta=beta, wd=0.0) == \
      pytest.approx(edge, rel=1e-8)


def test_learning_rates_are_the_submission_schedule(findings):
  from algoperf import tuning
  from reference_algorithms.common import schedules
  hp = {'learning_rate': 0.1, 'warmup_factor': 0.05, 'weight_decay': 1e-4,
        'label_smoothing': 0.0, 'dropout_rate': 0.0}
  step_hint = 1000
  steps = np.array([0, 1, 25, 49, 50, 51, 500, 999, 1000, 1200])
  schedule = schedules.from_hparams(tuning.hparams_from_dict(hp), step_hint)
  np.testing.assert_allclose(findings.learning_rates(hp, step_hint, steps),
                             [float(schedule(int(t))) for t in steps], rtol=1e-6)


def test_the_tuned_point_is_found_among_the_stored_trials(findings):
  settings = findings.Settings()
  trial = findings.tuned_trial(settings.baselines_dir, settings.calibration_dir, 'char_lm')
  assert trial.algorithm == 'nadamw' and trial.hparams['learning_rate'] == 0.01
  assert trial.seed > 0 and trial.global_batch_size == 32


@pytest.mark.slow  # three short instrumented trials: 15 s on 2 quiet CPU cores, 45 s on busy ones
def test_smoke_run_writes_figures_and_summary(findings, tmp_path, capsys):
  settings = findings.Settings(output_dir=str(tmp_path / 'out'),
                               work_dir=str(tmp_path / 'runs')).smoke()
  summary = findings.run_all(settings, command='smoke')
  printed = capsys.readouterr().out
  assert findings.SUMMARY_BEGIN in printed and findings.SUMMARY_END in printed
  for figure in ('stability_noisy_quadratic.png', 'alpha.png', 'gsnr.png'):
    path = tmp_path / 'out' / figure
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b'\x89PNG'
  text = (tmp_path / 'out' / 'summary.txt').read_text(encoding='utf-8')
  assert all(f'[{kind}]' in text for kind in ('stability', 'alpha', 'gsnr'))
  stored = json.loads((tmp_path / 'out' / 'summary.json').read_text(encoding='utf-8'))
  stability = stored['stability']
  # Lanczos finds the quadratic's known top eigenvalue
  assert stability['lambda_max_measured'] == pytest.approx(stability['lambda_max_true'],
                                                           rel=1e-4)
  # one Momentum point that trained and one that diverged, each retraining the stored run
  assert {r['stored_status'] == 'diverged' for r in stability['runs']} == {True, False}
  for run in stability['runs']:
    assert run['reproduction']['compared_steps'] >= 1
    assert run['reproduction']['max_rel_diff'] < 1e-4
  assert len(stability['stored_points']) == 5  # every stored Momentum point is predicted
  assert summary['alpha'][0]['tracked_finite'] >= 3
  assert summary['gsnr'][0]['tracked'] >= 3
  assert os.path.isfile(tmp_path / 'runs' / 'noisy_quadratic_nadamw_trial_5' / 'instruments.csv')
