"""warmup: at an unstable learning rate, linear warmup over a grid of lengths (never above
10% of the steps); which lengths train stably, and how close each comes to the best stable
result (docs/diagnose.md, step 4). A rate with no spike without warmup is either reported
as stalling (some warmup length ends more than 10% lower) or refused (nothing to fix).

The length is the hyperparameter `warmup_steps` (every reference algorithm reads it; None
means its `warmup_factor` of the step hint), or, for a submission that only knows a
fraction of the step hint, `--warmup_hparam=warmup_factor` (written as steps / step_hint).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from algoperf.diagnosis import probes, report, rules, trials
from algoperf.diagnosis.config import DiagnosisConfig, DiagnosisError
from algoperf.diagnosis.lr_sweep import fmt

NAME = 'warmup'


@dataclasses.dataclass(frozen=True)
class WarmupSettings:
  learning_rate: float
  learning_rate_source: str
  lengths: tuple[int, ...]
  steps: int
  step_hint: int
  warmup_hparam: str = 'warmup_steps'
  reference: dict[str, Any] | None = None   # lr*'s run from lr_sweep, when it was run
  rule: rules.Rule = rules.Rule()


def warmup_value(name: str, length: int, step_hint: int) -> float | int:
  """What to write into the point for a warmup of `length` steps."""
  if name == 'warmup_factor':
    return length / step_hint
  return length


def run(config: DiagnosisConfig, settings: WarmupSettings, overwrite: bool = False
        ) -> dict[str, Any]:
  """Warmup 0 first (is the rate unstable at all?), then each length."""
  lengths = (0, *settings.lengths)
  points = [{**config.point, config.lr_name: settings.learning_rate,
             settings.warmup_hparam: warmup_value(settings.warmup_hparam, n,
                                                  settings.step_hint)}
            for n in lengths]
  probe = probes.ProbeSettings(every=trials.probe_every(settings.steps),
                               data_dir=config.data_dir)
  records = trials.run_points(
      config, NAME, points, probe, settings.steps, overwrite,
      describe=lambda p: f'{config.lr_name}={fmt(p[config.lr_name])}, '
                         f'{settings.warmup_hparam}={p[settings.warmup_hparam]:.4g}')
  summary = summarize(config, settings, lengths, records)
  write_outputs(config, settings, summary, records)
  if summary['rate_was_stable'] and not summary['stalled_without_warmup']:
    raise DiagnosisError(summary['verdict'])
  return summary


def summarize(config: DiagnosisConfig, settings: WarmupSettings, lengths: tuple[int, ...],
              records: list[trials.TrialRecord]) -> dict[str, Any]:
  rows = []
  for length, rec in zip(lengths, records, strict=True):
    v = rec.verdict(settings.steps, settings.rule)
    rows.append({'warmup_steps': length, 'label': v.label, 'reason': v.reason,
                 'final_train_loss': v.final_loss,
                 'final_validation_loss': rec.final_eval('validation/loss'),
                 'steps_run': (rec.summary or {}).get('global_step'),
                 'trial_dir': rec.log_dir})
  stable = [r for r in rows[1:] if r['label'] == rules.STABLE]
  best_stable = _best_stable_result(rows, settings.reference)
  # Warmup runs that end clearly lower than a run without warmup that had no spike: the
  # rate stalls without warmup (the rules have no class for that).
  better = _clearly_better(rows, settings.rule) if rows[0]['label'] == rules.STABLE else []
  for r in rows:
    r['gap_to_best_stable'] = _gap(r, best_stable)
  return {'diagnosis': NAME, 'workload': config.workload,
          'submission': config.submission_path, 'point': dict(config.point),
          'learning_rate': settings.learning_rate,
          'learning_rate_source': settings.learning_rate_source,
          'warmup_hparam': settings.warmup_hparam, 'steps': settings.steps,
          'lengths': list(settings.lengths), 'runs': rows,
          'stable_lengths': [r['warmup_steps'] for r in stable],
          'best_stable': best_stable, 'rate_was_stable': rows[0]['label'] == rules.STABLE,
          'stalled_without_warmup': bool(better),
          'verdict': verdict_text(rows, stable, better, best_stable, settings, config)
                     + _cut_short_note(rows, settings.steps)}


def _cut_short_note(rows, steps: int) -> str:
  """Trials the runner stopped before `steps` (e.g. at the workload's time budget): their
  final losses are from fewer steps than the others', so the verdict says which."""
  short = [f'warmup {r["warmup_steps"]} at step {r["steps_run"]}' for r in rows
           if r.get('steps_run') is not None and r['steps_run'] < steps]
  return (f' [stopped before step {steps}, e.g. by the time budget: {", ".join(short)}]'
          if short else '')


def _metric(row: dict[str, Any]) -> tuple[str, float | None]:
  """Compare on validation loss when the eval logged it, else on the final training loss."""
  if row.get('final_validation_loss') is not None:
    return 'val loss', row['final_validation_loss']
  return 'train loss', row.get('final_train_loss')


def _best_stable_result(rows, reference) -> dict[str, Any] | None:
  """lr*'s run from the sweep (when it had as many steps), else the best stable warmup."""
  if reference is not None:
    return reference
  stable = [r for r in rows[1:] if r['label'] == rules.STABLE and _metric(r)[1] is not None]
  if not stable:
    return None
  best = min(stable, key=lambda r: _metric(r)[1])
  return {'name': f'warmup {best["warmup_steps"]}', 'final_validation_loss':
          best['final_validation_loss'], 'final_train_loss': best['final_train_loss']}


def _gap(row, best) -> float | None:
  if best is None:
    return None
  kind, value = _metric(row)
  reference = _metric(best)[1] if kind == _metric(best)[0] else None
  return None if value is None or reference is None else value - reference


def _clearly_better(rows, rule: rules.Rule) -> list[dict[str, Any]]:
  """The warmup runs whose final loss is below the no-warmup run's by more than
  `rule.min_rise` of it (the spike rule's 10%), compared on the same metric."""
  kind, value = _metric(rows[0])
  if value is None:
    return []
  return [r for r in rows[1:] if r['label'] == rules.STABLE and _metric(r)[0] == kind
          and _metric(r)[1] is not None and _metric(r)[1] < value - rule.min_rise * value]


def verdict_text(rows, stable, better, best, settings: WarmupSettings,
                 config: DiagnosisConfig) -> str:
  rate = f'{config.lr_name}={fmt(settings.learning_rate)}'
  if better:
    # No spike without warmup, yet warmup trains clearly further: the run without warmup
    # stalls (e.g. on a plateau), which the rules have no class for. Say what the runs show.
    kind, value = _metric(rows[0])
    top = min(better, key=lambda r: _metric(r)[1])
    each = ', '.join(f'{r["warmup_steps"]}: ' + ('n/a' if _metric(r)[1] is None
                                                 else f'{_metric(r)[1]:.3g}')
                     for r in rows[1:])
    return (f'{rate} without warmup: no spike (stable by the rules), but it stalls: final '
            f'{kind} {value:.3g}, while warmup of '
            f'{better[0]["warmup_steps"]} steps reaches {_metric(better[0])[1]:.3g}'
            + (f' and {top["warmup_steps"]} steps {_metric(top)[1]:.3g}' if top is not
               better[0] else '')
            + f' ({kind} by warmup length: {each}); warmup helps this rate although the '
            'rules see no spike to fix')
  if rows[0]['label'] == rules.STABLE:
    return (f'{rate} trains stably without warmup ({settings.steps} steps): there is no '
            'instability for warmup to fix. Pass a larger --learning_rate, or run lr_sweep '
            'with a higher --lr_max to find an unstable one; the runs written are kept.')
  if rows[0]['label'] in (rules.TOO_SHORT, trials.FAILED):
    return f'{rate} without warmup could not be judged: {rows[0]["reason"]}'
  head = f'{rate} without warmup: {rows[0]["label"]} ({rows[0]["reason"]})'
  if not stable:
    tried = ', '.join(f'{r["warmup_steps"]} {r["label"]}' for r in rows[1:])
    return (f'{head}; no warmup length tried made it stable ({tried}): lower the rate, or '
            'the rate is beyond what warmup can fix')
  shortest = stable[0]
  kind, value = _metric(shortest)
  text = f'{head}; warmup of {shortest["warmup_steps"]} steps makes it stable ({kind} '
  text += 'n/a' if value is None else f'{value:.3g}'
  if best is not None and _metric(best)[1] is not None:
    text += f' vs {_metric(best)[1]:.3g} at {best["name"]}'
  text += ')'
  others = [r['warmup_steps'] for r in stable[1:]]
  if others:
    text += f'; also stable: {", ".join(map(str, others))} steps'
  return text


def write_outputs(config: DiagnosisConfig, settings: WarmupSettings, summary: dict[str, Any],
                  records: list[trials.TrialRecord]) -> None:
  from algoperf.diagnosis import plots
  folder = config.folder(NAME)
  report.write_summary(folder, summary)
  curves = [(f'warmup {r["warmup_steps"]}', *rec.series('train_loss'), r['label'])
            for r, rec in zip(summary['runs'], records, strict=True)]
  reference = None
  if settings.reference is not None and settings.reference.get('trial_dir'):
    ref = trials.read_record(settings.reference['trial_dir'], {}, None, None)
    reference = (settings.reference['name'], *ref.series('train_loss'))
  fig = plots.warmup_figure(curves, reference,
                            f'{config.workload}: warmup at {config.lr_name}='
                            f'{fmt(settings.learning_rate)}')
  png = report.write_png(folder, f'{NAME}.png', fig)
  report.write_page(
      folder, NAME, f'Warmup: {config.workload}', summary['verdict'], [png],
      [('Warmup lengths', ['warmup steps', 'verdict', 'why', 'final training loss',
                           'final validation loss', 'gap to best stable', 'trial'],
        [[r['warmup_steps'], r['label'], r['reason'], r['final_train_loss'],
          r['final_validation_loss'], r['gap_to_best_stable'], r['trial_dir']]
         for r in summary['runs']])])
