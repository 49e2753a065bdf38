"""The four diagnoses end to end on noisy_quadratic, whose stability edge is known.

Plain gradient descent on ½(θ−x)ᵀH(θ−x) is stable iff η·λmax(H) < 2 (the noise does not
move the edge: the mean follows noise-free GD). Reference `sgd` with warmup_factor=0 and
weight_decay=0 is plain mini-batch GD at a constant rate (the cosine decay over the step
hint of 142878 is under 1e-6 in these few steps). Tiny trials, in-process.
"""

import json
import os

import numpy as np
import pytest

from algoperf.diagnosis import (
  clip_threshold,
  early_instability,
  lr_sweep,
  rates,
  report,
  rules,
  trials,
)
from algoperf.diagnosis import warmup as warmup_lib
from algoperf.diagnosis.config import DiagnosisConfig, DiagnosisError, base_point
from workloads.noisy_quadratic.workload import NoisyQuadraticWorkload

SUBMISSION = 'reference_algorithms/sgd/submission.py'
SPACE = 'reference_algorithms/sgd/tuning_search_space_fixed.json'
RATES = tuple(0.004 * 2.0**k for k in range(7))  # 0.004 ... 0.256, one octave apart
STEPS = 60


@pytest.fixture(scope='module')
def config(tmp_path_factory):
  point = base_point(SPACE, 0, 0, {'warmup_factor': 0.0, 'weight_decay': 0.0},
                     'learning_rate')
  return DiagnosisConfig(SUBMISSION, 'noisy_quadratic', SPACE,
                         str(tmp_path_factory.mktemp('diagnoses')), point,
                         isolate_trials=False, show_progress=False)


@pytest.fixture(scope='module')
def sweep(config):
  return lr_sweep.run(config, lr_sweep.SweepSettings(RATES, STEPS))


def test_the_sweep_finds_the_stability_edge_of_the_hessian(sweep):
  edge = 2.0 / NoisyQuadraticWorkload().eigenvalues.max()  # ≈ 0.0336
  ratio = RATES[1] / RATES[0]
  labels = {row['learning_rate']: row['label'] for row in sweep['trials']}
  for rate, label in labels.items():
    if rate <= edge / ratio:
      assert label == rules.STABLE, (rate, label)
    if rate >= edge * ratio:
      assert label == rules.DIVERGED, (rate, label)
  # One transition, and it brackets the edge within one grid step.
  stable = [r for r, label in labels.items() if label == rules.STABLE]
  unstable = [r for r, label in labels.items() if label != rules.STABLE]
  assert max(stable) < min(unstable)
  assert edge / ratio < max(stable) and min(unstable) < edge * ratio
  assert sweep['smallest_unstable_rate'] == min(unstable)
  assert sweep['lr_star'] in stable
  assert f'rates >= {min(unstable):.3g} are unstable' in sweep['verdict']


def test_the_sweep_writes_trials_in_the_layout_and_its_outputs(config, sweep):
  folder = config.folder('lr_sweep')
  assert report.read_summary(folder)['verdict'] == sweep['verdict']
  assert os.path.getsize(os.path.join(folder, 'lr_sweep.png')) > 10_000
  page = open(os.path.join(folder, 'lr_sweep.html'), encoding='utf-8').read()
  assert 'data:image/png;base64,' in page and sweep['verdict'].split(';')[0] in page
  trial = os.path.join(folder, 'study_0', 'noisy_quadratic_jax', 'trial_1')
  assert json.load(open(os.path.join(trial, 'hparams.json')))['learning_rate'] == RATES[0]
  probe = np.genfromtxt(os.path.join(trial, 'diagnosis.csv'), delimiter=',', names=True)
  assert list(probe['global_step']) == list(range(STEPS))
  # One seed for every rate, and a budget that --steps, not the clock, runs out.
  from workloads import registry
  metas = [json.load(open(os.path.join(folder, 'study_0', 'noisy_quadratic_jax',
                                       f'trial_{i + 1}', 'meta_data_0.json')))
           for i in range(len(RATES))]
  assert len({m['rng_seed'] for m in metas}) == 1
  budget = registry.get_workload('noisy_quadratic').max_allowed_runtime_sec
  assert {m['budget_sec'] for m in metas} == {budget * trials.BUDGET_FACTOR}


def test_a_rerun_resumes_without_rerunning_finished_trials(config, sweep, capsys):
  trial = os.path.join(config.folder('lr_sweep'), 'study_0', 'noisy_quadratic_jax',
                       'trial_3', 'trial_summary.json')
  before = os.stat(trial).st_mtime_ns
  again = lr_sweep.run(config, lr_sweep.SweepSettings(RATES, STEPS))
  assert again['verdict'] == sweep['verdict'] and os.stat(trial).st_mtime_ns == before
  with pytest.raises(DiagnosisError, match='holds a diagnosis of other hyperparameter points'):
    lr_sweep.run(config, lr_sweep.SweepSettings(RATES[1:], STEPS))
  assert os.stat(trial).st_mtime_ns == before  # refused, nothing lost


def test_later_diagnoses_take_their_rates_from_the_sweep(config, sweep):
  assert rates.lr_star(config, None)[0] == sweep['lr_star']
  assert rates.lr_star(config, 0.5) == (0.5, '--learning_rate')
  assert rates.unstable_rate(config, None, 10.0)[0] == pytest.approx(
      10 * sweep['smallest_unstable_rate'])


def test_early_instability_logs_every_step_and_sees_the_blow_up(config, sweep):
  rate, source = rates.lr_star(config, None)
  summary = early_instability.run(config, early_instability.EarlySettings(
      rate, source, multiplier=4.0, steps=40, validation_subset=64, sparse_every=10))
  high, star = summary['runs']
  assert high['learning_rate'] == pytest.approx(4 * rate)
  assert high['label'] == rules.DIVERGED and high['spiked']
  assert star['label'] == rules.STABLE and not star['spiked']
  trial = os.path.join(config.folder('early_instability'), 'study_0', 'noisy_quadratic_jax',
                       'trial_2')
  probe = np.genfromtxt(os.path.join(trial, 'diagnosis.csv'), delimiter=',', names=True)
  assert len(probe) == 40 and np.all(np.isfinite(probe['validation_subset_loss']))
  assert summary['verdict'].startswith(f'4·lr* = {4 * rate:.3g}: ')
  assert 'lr* = ' in summary['verdict'] and 'no early spike' in summary['verdict']


def test_clip_threshold_is_the_90th_percentile_of_the_full_gradient_norm(config, sweep):
  summary = clip_threshold.run(config, clip_threshold.ClipSettings(
      sweep['lr_star'], 'test', steps=40, every=2, grad_subset=4096))
  trial = summary['trial_dir']
  probe = np.genfromtxt(os.path.join(trial, 'diagnosis.csv'), delimiter=',', names=True)
  assert list(probe['global_step']) == list(range(0, 40, 2))
  full = probe['train_subset_grad_norm']
  assert summary['threshold'] == pytest.approx(np.percentile(full, 90))
  assert summary['clipped_fraction_full'] == pytest.approx(np.mean(full > summary['threshold']))
  # The mini-batch norm carries the sampling noise on top: never below the full one here.
  assert np.median(probe['batch_grad_norm']) > np.median(full)
  assert summary['verdict'].startswith(f'clip at {summary["threshold"]:.3g} (p90')


def test_warmup_cannot_rescue_a_rate_beyond_the_quadratic_edge(config, sweep):
  rate, source = rates.unstable_rate(config, None, 1.0)
  summary = warmup_lib.run(config, warmup_lib.WarmupSettings(
      rate, source, (4,), steps=40, step_hint=142878))
  assert [r['warmup_steps'] for r in summary['runs']] == [0, 4]
  assert all(r['label'] == rules.DIVERGED for r in summary['runs'])
  assert 'no warmup length tried made it stable' in summary['verdict']
  point = json.load(open(os.path.join(summary['runs'][1]['trial_dir'], 'hparams.json')))
  assert point['warmup_steps'] == 4 and point['learning_rate'] == rate


def test_warmup_at_a_stable_rate_says_so_and_keeps_its_runs(config, sweep, tmp_path):
  stable_config = DiagnosisConfig(**{**config.__dict__, 'output_dir': str(tmp_path)})
  with pytest.raises(DiagnosisError, match='trains stably without warmup') as e:
    warmup_lib.run(stable_config, warmup_lib.WarmupSettings(
        sweep['lr_star'], '--learning_rate', (4,), steps=40, step_hint=142878))
  assert 'the runs written are kept' in str(e.value)
  folder = stable_config.folder('warmup')
  assert report.read_summary(folder)['rate_was_stable']
  assert os.path.exists(os.path.join(folder, 'study_0', 'noisy_quadratic_jax', 'trial_2',
                                     'trial_summary.json'))
