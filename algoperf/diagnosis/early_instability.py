"""early_instability: a short run at m·lr* (m = 2) and one at lr*, the training loss and a
small validation subset's loss logged at every step; is there an early spike that a sparse
eval schedule would have hidden? (docs/diagnose.md, step 2)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from algoperf.diagnosis import probes, report, rules, trials
from algoperf.diagnosis.config import DiagnosisConfig
from algoperf.diagnosis.lr_sweep import fmt

NAME = 'early_instability'
# The validation subset is the same examples every step, free of batch noise: no smoothing.
# A rise is a spike when it is more than 5% of the best loss so far and undoes more than
# 5% of the progress made so far (SGD's parameter noise moves the subset loss near its
# floor by a few percent of a small number without any instability).
SUBSET_RULE = rules.Rule(window=1, spike_fraction=0.05, min_rise=0.05, min_points=2)


@dataclasses.dataclass(frozen=True)
class EarlySettings:
  lr_star: float
  lr_star_source: str
  multiplier: float = 2.0
  steps: int = 500
  validation_subset: int = 256
  sparse_every: int = 100
  rule: rules.Rule = rules.Rule()


def run(config: DiagnosisConfig, settings: EarlySettings, overwrite: bool = False
        ) -> dict[str, Any]:
  rates = [settings.lr_star * settings.multiplier, settings.lr_star]
  points = [{**config.point, config.lr_name: rate} for rate in rates]
  probe = probes.ProbeSettings(every=1, validation_subset=settings.validation_subset,
                               data_dir=config.data_dir)
  records = trials.run_points(config, NAME, points, probe, settings.steps, overwrite,
                              describe=lambda p: f'{config.lr_name}={fmt(p[config.lr_name])}')
  summary = summarize(config, settings, rates, records)
  write_outputs(config, settings, summary, records)
  return summary


def analyse_run(record: trials.TrialRecord, settings: EarlySettings) -> dict[str, Any]:
  """Spikes on the dense curves, and whether the sparse view of the subset shows any."""
  verdict = record.verdict(settings.steps, settings.rule)
  steps, subset = record.series('validation_subset_loss')
  dense = rules.find_spikes(steps, subset, SUBSET_RULE) if len(steps) else ()
  mask = rules.sparse_view(steps, settings.sparse_every)
  sparse = rules.find_spikes(steps[mask], subset[mask], SUBSET_RULE) if len(steps) else ()
  nonfinite = bool(len(subset)) and not np.all(np.isfinite(subset))
  train_spikes = list(verdict.spikes)
  spiked = bool(dense or train_spikes) or verdict.label == rules.DIVERGED
  return {'label': verdict.label, 'reason': verdict.reason,
          'train_spikes': [dataclasses.asdict(s) for s in train_spikes],
          'subset_spikes': [dataclasses.asdict(s) for s in dense],
          'sparse_subset_spikes': [dataclasses.asdict(s) for s in sparse],
          'spiked': spiked, 'subset_not_finite': nonfinite,
          'hidden_by_sparse_evals': spiked and not sparse and not nonfinite,
          'final_train_loss': verdict.final_loss,
          'final_validation_loss': record.final_eval('validation/loss'),
          'trial_dir': record.log_dir}


def summarize(config: DiagnosisConfig, settings: EarlySettings, rates: list[float],
              records: list[trials.TrialRecord]) -> dict[str, Any]:
  runs = [{'learning_rate': rate, **analyse_run(rec, settings)}
          for rate, rec in zip(rates, records, strict=True)]
  return {'diagnosis': NAME, 'workload': config.workload,
          'submission': config.submission_path, 'lr_name': config.lr_name,
          'point': dict(config.point), 'steps': settings.steps,
          'lr_star': settings.lr_star, 'lr_star_source': settings.lr_star_source,
          'multiplier': settings.multiplier, 'sparse_every': settings.sparse_every,
          'validation_subset': settings.validation_subset, 'runs': runs,
          'verdict': verdict_text(runs, settings)}


def _describe(run: dict[str, Any], name: str, sparse_every: int) -> str:
  rate = fmt(run['learning_rate'])
  if run['label'] == trials.FAILED:
    return f'{name} = {rate}: the trial failed ({run["reason"]})'
  spikes = run['subset_spikes'] or run['train_spikes']
  if not run['spiked']:
    return f'{name} = {rate}: no early spike'
  if not spikes:
    return f'{name} = {rate}: {run["label"]} ({run["reason"]})'
  first = spikes[0]
  curve = 'validation-subset' if run['subset_spikes'] else 'training'
  back = (f'back by step {first["recovered_step"]}' if first['recovered_step'] is not None
          else 'not back by the end')
  seen = ('an eval every {n} steps would have hidden it' if run['hidden_by_sparse_evals']
          else 'an eval every {n} steps would have shown it').format(n=sparse_every)
  return (f'{name} = {rate}: early spike at step {first["step"]} ({curve} loss '
          f'{first["loss"]:.3g} after {first["best_before"]:.3g}), {back}; {seen}')


def verdict_text(runs: list[dict[str, Any]], settings: EarlySettings) -> str:
  high, star = runs
  name = f'{settings.multiplier:g}·lr*'
  return (_describe(high, name, settings.sparse_every) + '; '
          + _describe(star, 'lr*', settings.sparse_every)
          + f' (lr* from {settings.lr_star_source})')


def write_outputs(config: DiagnosisConfig, settings: EarlySettings, summary: dict[str, Any],
                  records: list[trials.TrialRecord]) -> None:
  from algoperf.diagnosis import plots
  folder = config.folder(NAME)
  report.write_summary(folder, summary)
  names = [f'{settings.multiplier:g}·lr* = {fmt(r["learning_rate"])}' if i == 0
           else f'lr* = {fmt(r["learning_rate"])}' for i, r in enumerate(summary['runs'])]
  series = [(name, *rec.series('train_loss'), *rec.series('validation_subset_loss'))
            for name, rec in zip(names, records, strict=True)]
  fig = plots.dense_figure(series, settings.sparse_every,
                           f'{config.workload}: early instability, {settings.steps} steps')
  png = report.write_png(folder, f'{NAME}.png', fig)
  rows = [[name, r['label'], len(r['train_spikes']), len(r['subset_spikes']),
           len(r['sparse_subset_spikes']), r['hidden_by_sparse_evals'],
           r['final_validation_loss'], r['trial_dir']]
          for name, r in zip(names, summary['runs'], strict=True)]
  report.write_page(folder, NAME, f'Early instability: {config.workload}',
                    summary['verdict'], [png],
                    [('Runs', ['run', 'verdict', 'training-loss spikes',
                               'validation-subset spikes (every step)',
                               f'… seen by evals every {settings.sparse_every} steps',
                               'hidden by sparse evals', 'final validation loss', 'trial'],
                      rows)])
