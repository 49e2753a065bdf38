"""lr_sweep: the submission at N log-spaced learning rates, everything else fixed; lr* and
a verdict on every rate above it (docs/diagnose.md, step 1)."""

from __future__ import annotations

import dataclasses
from typing import Any

from algoperf.diagnosis import probes, report, rules, trials
from algoperf.diagnosis.config import DiagnosisConfig

NAME = 'lr_sweep'


@dataclasses.dataclass(frozen=True)
class SweepSettings:
  rates: tuple[float, ...]
  steps: int
  rule: rules.Rule = rules.Rule()


def fmt(rate: float) -> str:
  return f'{rate:.3g}'


def run(config: DiagnosisConfig, settings: SweepSettings, overwrite: bool = False
        ) -> dict[str, Any]:
  """Run (or resume) the sweep's trials, then summarise, plot and write the page."""
  points = [{**config.point, config.lr_name: rate} for rate in settings.rates]
  probe = probes.ProbeSettings(every=trials.probe_every(settings.steps),
                               data_dir=config.data_dir)
  records = trials.run_points(config, NAME, points, probe, settings.steps, overwrite,
                              describe=lambda p: f'{config.lr_name}={fmt(p[config.lr_name])}')
  summary = summarize(config, settings, records)
  write_outputs(config, summary, records)
  return summary


def summarize(config: DiagnosisConfig, settings: SweepSettings,
              records: list[trials.TrialRecord]) -> dict[str, Any]:
  rates = list(settings.rates)
  verdicts = [r.verdict(settings.steps, settings.rule) for r in records]
  star = rules.best_rate(rates, verdicts)
  lr_star = None if star is None else rates[star]
  rows = [{'learning_rate': rate, 'label': v.label, 'reason': v.reason,
           'first_bad_step': v.first_bad_step, 'final_train_loss': v.final_loss,
           'final_validation_loss': rec.final_eval('validation/loss'),
           'trial_dir': rec.log_dir}
          for rate, v, rec in zip(rates, verdicts, records, strict=True)]
  above = [row for row in rows if lr_star is not None and row['learning_rate'] > lr_star]
  unstable = [row['learning_rate'] for row in above if row['label'] in (
      rules.UNSTABLE_EARLY, rules.UNSTABLE_MID, rules.DIVERGED)]
  short = [row['learning_rate'] for row in rows if row['label'] == rules.TOO_SHORT]
  return {'diagnosis': NAME, 'workload': config.workload,
          'submission': config.submission_path, 'lr_name': config.lr_name,
          'point': dict(config.point), 'steps': settings.steps,
          'rule': dataclasses.asdict(settings.rule), 'rates': rates, 'lr_star': lr_star,
          'lr_star_final_train_loss': None if star is None else verdicts[star].final_loss,
          'lr_star_final_validation_loss': None if star is None else
          rows[star]['final_validation_loss'],
          'smallest_unstable_rate': min(unstable) if unstable else None,
          'too_short': short, 'trials': rows, 'verdict': verdict_text(rows, lr_star, short)}


def verdict_text(rows: list[dict[str, Any]], lr_star: float | None,
                 short: list[float]) -> str:
  if short:
    return (f'too short to judge: the runs at {", ".join(fmt(r) for r in short)} logged too '
            'few points for the rules; rerun with more --steps (nothing was guessed)')
  if lr_star is None:
    return ('no lr*: every rate diverged or failed; lower --lr_min '
            f'({", ".join(fmt(r["learning_rate"]) + " " + r["label"] for r in rows)})')
  best = next(r for r in rows if r['learning_rate'] == lr_star)
  text = f'lr* = {fmt(lr_star)} (final training loss {best["final_train_loss"]:.4g})'
  above = [r for r in rows if r['learning_rate'] > lr_star]
  if not above:
    return text + '; it is the largest rate tried, so the best rate may lie above: raise --lr_max'
  parts = []
  for r in above:
    where = (f' from step {r["first_bad_step"]}' if r['first_bad_step'] is not None
             and r['label'] != rules.STABLE else '')
    parts.append(f'{fmt(r["learning_rate"])} {r["label"]}{where}')
  text += '; above it: ' + ', '.join(parts)
  unstable = [r['learning_rate'] for r in above if r['label'] != rules.STABLE]
  if not unstable:
    text += f'; no rate up to {fmt(above[-1]["learning_rate"])} is unstable: raise --lr_max'
  elif all(r['label'] != rules.STABLE for r in above if r['learning_rate'] >= min(unstable)):
    text += f'; rates >= {fmt(min(unstable))} are unstable'
  return text


def write_outputs(config: DiagnosisConfig, summary: dict[str, Any],
                  records: list[trials.TrialRecord]) -> None:
  from algoperf.diagnosis import plots
  folder = config.folder(NAME)
  report.write_summary(folder, summary)
  rows = summary['trials']
  fig = plots.sweep_figure(
      summary['rates'], [rec.series('train_loss') for rec in records],
      [r['label'] for r in rows], [r['final_train_loss'] for r in rows], summary['lr_star'],
      f'{config.workload}: learning-rate sweep, {summary["steps"]} steps per rate')
  png = report.write_png(folder, f'{NAME}.png', fig)
  report.write_page(
      folder, NAME, f'Learning-rate sweep: {config.workload}', summary['verdict'], [png],
      [('Rates', ['learning rate', 'verdict', 'why', 'final training loss',
                  'final validation loss', 'trial'],
        [[r['learning_rate'], r['label'], r['reason'], r['final_train_loss'],
          r['final_validation_loss'], r['trial_dir']] for r in rows]),
       ('Fixed hyperparameters', ['name', 'value'],
        [[k, v] for k, v in summary['point'].items() if k != config.lr_name])])
