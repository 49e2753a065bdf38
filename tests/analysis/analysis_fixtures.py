"""Builders for analysis tests: trial folders written with algoperf.logs, as the runner does,
and real studies of the toy workload run through algoperf.experiment."""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
import toy_workload  # noqa: E402

from algoperf import experiment, logs  # noqa: E402

SGD = os.path.join(TESTS, 'submissions', 'sgd.py')


class ToyWorkload(toy_workload.ToyRegressionWorkload):
  """The toy regression with a reachable target (validation loss 0.5) and an eval after every
  step, so a dozen steps give a real learning curve."""

  def __init__(self):
    super().__init__(validation_target=0.5, eval_period_sec=0.0)


def toy_study(experiment_dir, name='sgd', learning_rates=(0.1, 0.01), max_global_steps=12,
              rng_seed=3):
  """One real study of SGD on ToyWorkload, one trial per learning rate; returns outcomes.

  With these defaults learning rate 0.1 reaches the target within a few steps, 0.01 does not.
  """
  space = os.path.join(os.path.dirname(str(experiment_dir)), f'{name}_search_space.json')
  with open(space, 'w') as f:
    json.dump([{'learning_rate': lr} for lr in learning_rates], f)
  config = experiment.ExperimentConfig(
      submission_path=SGD, workload_name='toy', experiment_dir=str(experiment_dir),
      experiment_name=name, tuning_search_space=space, num_tuning_trials=len(learning_rates),
      rng_seed=rng_seed, max_global_steps=max_global_steps, save_checkpoints=False,
      show_progress=False)
  return experiment.run_experiment(config, ToyWorkload, 'toy')


def meta(metric='accuracy', higher_is_better=True, validation_target=0.8, test_target=0.8,
         budget_sec=1000.0, seed=None, **extra):
  """The meta_data fields the runner records about a trial's target (and its seed)."""
  return {'target_metric_name': metric, 'target_metric_higher_is_better': higher_is_better,
          'validation_target_value': validation_target, 'test_target_value': test_target,
          'budget_sec': budget_sec, 'rng_seed': seed, **extra}


def write_trial(experiment_dir, experiment_name, study, workload, trial, scores, validation,
                *, metric='accuracy', steps=None, train=None, loss=None, hparams=None,
                meta_data=None, status='budget_exhausted'):
  """One trial folder: eval_measurements.csv (+ measurements.csv), hparams.json,
  meta_data_0.json and trial_summary.json; returns the folder.

  `validation` is the validation target metric per eval; `train` defaults to it, `loss`
  (validation and train loss) to 1 - validation.
  """
  path = logs.trial_dir(str(experiment_dir), experiment_name, study, workload, trial)
  steps = steps or [100 * (i + 1) for i in range(len(scores))]
  train = train if train is not None else validation
  loss = loss if loss is not None else [1.0 - v for v in validation]
  metrics_logger = logs.MetricsLogger(path)
  for i, score in enumerate(scores):
    row = {f'train/{metric}': train[i], f'validation/{metric}': validation[i],
           f'test/{metric}': validation[i], 'validation/num_examples': 100,
           'score': score, 'accumulated_submission_time': score,
           'accumulated_eval_time': float(i), 'accumulated_logging_time': 0.0,
           'total_duration': score + i}
    if metric != 'loss':
      row.update({'train/loss': loss[i], 'validation/loss': loss[i]})
    metrics_logger.append_scalar_metrics(row, steps[i], preemption_count=0, is_eval=True)
  if hparams is not None:
    logs.write_json(os.path.join(path, 'hparams.json'), hparams)
  if meta_data is not None:
    logs.write_json(os.path.join(path, 'meta_data_0.json'), meta_data)
  logs.write_json(os.path.join(path, logs.TRIAL_SUMMARY), {'status': status,
                                                          'global_step': steps[-1]})
  return path


def hand_built_tree(root):
  """Two submissions of workload `wl` (accuracy, higher is better, target 0.8, budget 1000 s
  from meta_data), values chosen for hand-computed summaries:

  alpha, 5 trials in 2 studies: reach times [300, 200, inf, inf, inf] (study_1/trial_2 meets
    the target only after the budget); best value 0.95; fastest = study_0/trial_2 (lr 0.003).
  beta, 3 trials: reach times [100, 400, inf]; best value 0.85; fastest = study_0/trial_1
    (lr 0.001, weight_decay 0.1).
  """
  m = lambda seed: meta(seed=seed)  # noqa: E731
  write_trial(root, 'alpha', 0, 'wl', 1, [100, 200, 300], [0.5, 0.7, 0.82],
              hparams={'learning_rate': 0.01}, meta_data=m(11))
  write_trial(root, 'alpha', 0, 'wl', 2, [100, 200, 300, 400], [0.6, 0.81, 0.85, 0.9],
              hparams={'learning_rate': 0.003}, meta_data=m(12))
  write_trial(root, 'alpha', 0, 'wl', 3, [150, 300], [0.3, 0.4],
              hparams={'learning_rate': 0.1}, meta_data=m(13))
  write_trial(root, 'alpha', 1, 'wl', 1, [100, 250], [0.5, 0.79],
              hparams={'learning_rate': 0.02}, meta_data=m(14))
  write_trial(root, 'alpha', 1, 'wl', 2, [100, 1200], [0.6, 0.95],
              hparams={'learning_rate': 0.005}, meta_data=m(15))
  write_trial(root, 'beta', 0, 'wl', 1, [50, 100], [0.7, 0.85],
              hparams={'learning_rate': 0.001, 'weight_decay': 0.1}, meta_data=m(21))
  write_trial(root, 'beta', 0, 'wl', 2, [200, 400], [0.75, 0.8],
              hparams={'learning_rate': 0.002, 'weight_decay': 0.01}, meta_data=m(22))
  write_trial(root, 'beta', 0, 'wl', 3, [100, 200], [0.2, 0.5],
              hparams={'learning_rate': 0.2, 'weight_decay': 0.001}, meta_data=m(23))
  return root
