"""The warmup diagnosis's verdict on synthetic trials: a stall without a spike, a trial the
runner stopped early, and a stable rate with nothing to fix (docs/diagnose.md, step 4)."""

import numpy as np
import pandas as pd

from algoperf.diagnosis import rules, trials
from algoperf.diagnosis import warmup as warmup_lib
from algoperf.diagnosis.config import DiagnosisConfig

STEPS = 600
LOGGED = np.arange(0, STEPS, 3)
CONFIG = DiagnosisConfig(submission_path='s.py', workload='toy', search_space='x.json',
                         output_dir='/nonexistent', point={'learning_rate': 0.03})


def _record(final_loss: float, val_loss: float, steps_run: int = STEPS) -> trials.TrialRecord:
  """A trial whose loss falls smoothly from 4 to `final_loss` (no spike)."""
  shown = LOGGED[LOGGED < steps_run]
  loss = final_loss + (4.0 - final_loss) * np.exp(-shown / 60.0)
  probe = pd.DataFrame({'global_step': shown, 'train_loss': loss})
  evals = pd.DataFrame({'global_step': [steps_run], 'validation/loss': [val_loss]})
  return trials.TrialRecord({}, f'/trial_{final_loss}', {'global_step': steps_run}, None,
                            probe, evals)


def _summary(records):
  settings = warmup_lib.WarmupSettings(
      learning_rate=0.03, learning_rate_source='--learning_rate', lengths=(10, 60),
      steps=STEPS, step_hint=667)
  return warmup_lib.summarize(CONFIG, settings, (0, 10, 60), records)


def test_a_stall_without_a_spike_that_warmup_fixes_is_reported_not_refused():
  summary = _summary([_record(3.0, 2.95), _record(3.0, 3.07), _record(1.7, 1.68)])
  assert [r['label'] for r in summary['runs']] == [rules.STABLE] * 3
  assert summary['stalled_without_warmup'] and summary['rate_was_stable']
  assert 'but it stalls: final val loss 2.95' in summary['verdict']
  assert 'warmup of 60 steps reaches 1.68' in summary['verdict']
  assert 'stopped before' not in summary['verdict']


def test_warmup_within_ten_percent_is_no_stall():
  summary = _summary([_record(2.0, 2.0), _record(2.0, 1.95), _record(1.9, 1.85)])
  assert not summary['stalled_without_warmup']
  assert 'no instability for warmup to fix' in summary['verdict']


def test_a_trial_stopped_before_its_steps_is_named_in_the_verdict():
  summary = _summary([_record(3.0, 2.95), _record(3.0, 3.07, steps_run=562),
                      _record(1.7, 1.68)])
  assert summary['verdict'].endswith('[stopped before step 600, e.g. by the time budget: '
                                     'warmup 10 at step 562]')
  assert [r['steps_run'] for r in summary['runs']] == [600, 562, 600]
