"""Which learning rate a later diagnosis uses: the one given, else what lr_sweep found in
the same output folder, else the point's own; each answer says where it came from."""

from __future__ import annotations

from typing import Any

from algoperf.diagnosis import lr_sweep, report
from algoperf.diagnosis.config import DiagnosisConfig, DiagnosisError


def _sweep(config: DiagnosisConfig) -> dict[str, Any] | None:
  return report.read_summary(config.folder(lr_sweep.NAME))


def lr_star(config: DiagnosisConfig, given: float | None) -> tuple[float, str]:
  """lr* for early_instability and clip_threshold."""
  if given is not None:
    return given, '--learning_rate'
  sweep = _sweep(config)
  if sweep is not None and sweep.get('lr_star') is not None:
    return float(sweep['lr_star']), f'lr_sweep in {config.folder(lr_sweep.NAME)}'
  return config.learning_rate, f"the point's {config.lr_name} (no lr_sweep in this folder)"


def unstable_rate(config: DiagnosisConfig, given: float | None, multiplier: float
                  ) -> tuple[float, str]:
  """The rate warmup should make stable: given, or lr_sweep's smallest unstable rate times
  `multiplier` (the Tuning Playbook aims at 10x the unstable rate)."""
  if given is not None:
    return given, '--learning_rate'
  sweep = _sweep(config)
  if sweep is None:
    raise DiagnosisError(
        f'warmup needs an unstable rate: pass --learning_rate, or run lr_sweep first with '
        f'the same --output_dir ({config.output_dir})')
  rate = sweep.get('smallest_unstable_rate')
  if rate is None:
    raise DiagnosisError(
        f'the lr_sweep in {config.folder(lr_sweep.NAME)} found no unstable rate above lr* '
        f'({sweep.get("verdict")}); pass --learning_rate, or sweep higher rates '
        '(--lr_max)')
  where = f'lr_sweep\'s smallest unstable rate {rate:.3g}'
  return float(rate) * multiplier, (where if multiplier == 1 else f'{multiplier:g} x {where}')


def sweep_reference(config: DiagnosisConfig, steps: int) -> dict[str, Any] | None:
  """lr*'s run from lr_sweep, the best stable result to compare warmup runs with, when it
  trained as many steps."""
  sweep = _sweep(config)
  if sweep is None or sweep.get('lr_star') is None or sweep.get('steps') != steps:
    return None
  row = next(r for r in sweep['trials'] if r['learning_rate'] == sweep['lr_star'])
  return {'name': f'lr* = {sweep["lr_star"]:.3g}', 'trial_dir': row['trial_dir'],
          'final_validation_loss': row['final_validation_loss'],
          'final_train_loss': row['final_train_loss']}
