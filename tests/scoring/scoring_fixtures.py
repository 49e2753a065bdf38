"""Small builders for scoring tests: targets dicts and AlgoPerf-layout log trees."""

from __future__ import annotations

import os

import pandas as pd

from algoperf.scoring import targets as targets_lib

ALGOPERF_COLUMNS = ['global_step', 'score', 'accumulated_submission_time',
                    'accumulated_eval_time', 'accumulated_logging_time', 'preemption_count',
                    'total_duration']


def workload_entry(metric='accuracy', higher_is_better=True, validation_target=0.9,
                   test_target=0.9, max_runtime_sec=1000.0, base_workload=None, name=None):
  return {'metric': metric, 'higher_is_better': higher_is_better,
          'validation_target': validation_target, 'test_target': test_target,
          'max_runtime_sec': max_runtime_sec, 'base_workload': base_workload or name}


def targets_dict(workloads, base_workloads=None, held_out=(), num_studies=1, trials=1,
                 self_num_studies=None, self_budget_factor=1.5, version='test-v1'):
  """A valid targets dict; `workloads` maps name -> workload_entry(...) kwargs."""
  entries = {name: workload_entry(name=name, **kw) for name, kw in workloads.items()}
  base = list(base_workloads if base_workloads is not None else
              [n for n, e in entries.items() if e['base_workload'] == n])
  return {
      'schema': targets_lib.SCHEMA,
      'benchmark_version': version,
      'rulesets': {
          'external': {'num_studies': num_studies, 'trials_per_study': trials,
                       'budget_factor': 1.0},
          'self': {'num_studies': self_num_studies or num_studies, 'trials_per_study': 1,
                   'budget_factor': self_budget_factor},
      },
      'base_workloads': base,
      'held_out_workloads': list(held_out),
      'workloads': entries,
  }


def make_targets(workloads, **kwargs):
  return targets_lib.targets_from_dict(targets_dict(workloads, **kwargs), '<test targets>')


def write_trial(root, study, workload, trial, scores, validation, test=None, metric='accuracy',
                framework='jax', preemption_counts=None):
  """Write one eval_measurements.csv in AlgoPerf's layout; returns its path."""
  path = os.path.join(root, f'study_{study}', f'{workload}_{framework}', f'trial_{trial}')
  os.makedirs(path, exist_ok=True)
  n = len(scores)
  frame = pd.DataFrame({
      'global_step': [100 * (i + 1) for i in range(n)],
      'score': scores,
      'accumulated_submission_time': scores,
      'accumulated_eval_time': [1.0 * i for i in range(n)],
      'accumulated_logging_time': [0.0] * n,
      'preemption_count': preemption_counts or [0] * n,
      'total_duration': [s + i for i, s in enumerate(scores)],
      f'train/{metric}': validation,
      f'validation/{metric}': validation,
      'validation/num_examples': [100] * n,
      f'test/{metric}': test if test is not None else validation,
      'test/num_examples': [100] * n,
  })
  csv_path = os.path.join(path, 'eval_measurements.csv')
  frame.to_csv(csv_path, index=False)
  return csv_path


def evals(*trials):
  """A long eval table as `reader` returns it, from (submission, workload, study, trial,
  scores, validation[, test]) tuples; for tests of the computation without files."""
  frames = []
  for spec in trials:
    submission, workload, study, trial, scores, validation = spec[:6]
    test = spec[6] if len(spec) > 6 else [float('nan')] * len(scores)
    frames.append(pd.DataFrame({
        'submission': submission, 'workload': workload, 'framework': 'jax',
        'experiment': '.', 'study': f'study_{study}', 'trial': f'trial_{trial}',
        'eval_index': range(len(scores)), 'global_step': 0.0, 'preemption_count': 0.0,
        'score': [float(x) for x in scores], 'validation': [float(x) for x in validation],
        'test': [float(x) for x in test]}))
  return pd.concat(frames, ignore_index=True)
