"""clip_threshold: train with clipping as the point has it, logging the gradient norm of a
large fixed training subset every k steps; recommend its 90th percentile as the global-norm
clipping threshold (docs/diagnose.md, step 3)."""

from __future__ import annotations

import dataclasses
from typing import Any

from algoperf.diagnosis import probes, report, rules, trials
from algoperf.diagnosis.config import DiagnosisConfig
from algoperf.diagnosis.lr_sweep import fmt

NAME = 'clip_threshold'
# The Tuning Playbook: clipping more than half the steps is too aggressive.
TOO_AGGRESSIVE = 0.5


@dataclasses.dataclass(frozen=True)
class ClipSettings:
  learning_rate: float
  learning_rate_source: str
  steps: int = 1000
  every: int = 5
  grad_subset: int = 2048
  percentile: float = 90.0


def run(config: DiagnosisConfig, settings: ClipSettings, overwrite: bool = False
        ) -> dict[str, Any]:
  point = {**config.point, config.lr_name: settings.learning_rate}
  probe = probes.ProbeSettings(every=settings.every, grad_subset=settings.grad_subset,
                               batch_grad_norm=True, data_dir=config.data_dir)
  [record] = trials.run_points(
      config, NAME, [point], probe, settings.steps, overwrite,
      describe=lambda p: f'{config.lr_name}={fmt(p[config.lr_name])}, gradient norms')
  summary = summarize(config, settings, record)
  write_outputs(config, settings, summary, record)
  return summary


def summarize(config: DiagnosisConfig, settings: ClipSettings, record: trials.TrialRecord
              ) -> dict[str, Any]:
  base = {'diagnosis': NAME, 'workload': config.workload,
          'submission': config.submission_path, 'point': dict(config.point),
          'learning_rate': settings.learning_rate,
          'learning_rate_source': settings.learning_rate_source, 'steps': settings.steps,
          'every': settings.every, 'grad_subset': settings.grad_subset,
          'trial_dir': record.log_dir, 'grad_clip_in_point': config.point.get('grad_clip')}
  _, full = record.series('train_subset_grad_norm')
  _, batch = record.series('batch_grad_norm')
  if record.error is not None or not len(full):
    why = record.error or 'no gradient norm was logged'
    return {**base, 'threshold': None,
            'verdict': f'no clipping threshold: {why} (trial {record.log_dir})'}
  try:
    stats = rules.clip_statistics(full, batch, settings.percentile)
  except ValueError as e:
    return {**base, 'threshold': None,
            'verdict': f'no clipping threshold: {e}; the run diverged at '
                       f'{config.lr_name}={fmt(settings.learning_rate)}: lower it'}
  too_many = max(stats['clipped_fraction_full'], stats['clipped_fraction_batch'] or 0.0)
  return {**base, **stats, 'too_aggressive': too_many > TOO_AGGRESSIVE,
          'verdict': verdict_text(stats, settings, config)}


def verdict_text(stats: dict[str, Any], settings: ClipSettings, config: DiagnosisConfig
                 ) -> str:
  text = (f'clip at {stats["threshold"]:.3g} (p{settings.percentile:g} of the train-subset '
          f'gradient norm over {stats["num_steps"]} logged steps at {config.lr_name}='
          f'{fmt(settings.learning_rate)}), clipping {stats["clipped_fraction_full"]:.0%} '
          'of those steps')
  batch = stats['clipped_fraction_batch']
  if batch is not None:
    text += f' and {batch:.0%} of the mini-batch gradients the updates saw'
  if max(stats['clipped_fraction_full'], batch or 0.0) > TOO_AGGRESSIVE:
    text += ('. WARNING: that clips more than half the steps, which is too aggressive: '
             'lower the learning rate instead of clipping (Tuning Playbook)')
  else:
    text += f'; to use it, add "grad_clip": {stats["threshold"]:.3g} to the point'
  return text


def write_outputs(config: DiagnosisConfig, settings: ClipSettings, summary: dict[str, Any],
                  record: trials.TrialRecord) -> None:
  from algoperf.diagnosis import plots
  folder = config.folder(NAME)
  report.write_summary(folder, summary)
  pngs = []
  if summary['threshold'] is not None:
    fig = plots.clip_figure(*record.series('train_subset_grad_norm'),
                            *record.series('batch_grad_norm'), summary['threshold'],
                            settings.percentile,
                            f'{config.workload}: gradient norms at {config.lr_name}='
                            f'{fmt(settings.learning_rate)}')
    pngs.append(report.write_png(folder, f'{NAME}.png', fig))
  rows = [[k, summary.get(k)] for k in (
      'threshold', 'percentile', 'clipped_fraction_full', 'clipped_fraction_batch',
      'num_steps', 'learning_rate', 'learning_rate_source', 'grad_subset', 'every',
      'trial_dir')]
  report.write_page(folder, NAME, f'Gradient-clipping threshold: {config.workload}',
                    summary['verdict'], pngs, [('Result', ['', 'value'], rows)])
