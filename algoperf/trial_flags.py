"""Flags that shape how each trial runs, shared by `submission_runner.py` and `run_suite.py`:
the calling convention (legacy pmap mode) and the instruments. One definition, one reader.

Importing this module defines the flags; it imports absl only, so `--help` stays fast.
"""

from __future__ import annotations

from absl import flags

flags.DEFINE_enum('legacy_pmap', 'auto', ['auto', 'on', 'off'],
                  'AlgoPerf v0.5 (pmap) submissions: hand params and state replicated with '
                  'a leading device axis and batches as (devices, per-device batch, ...). '
                  'auto: when the submission imports algorithmic_efficiency or uses '
                  'jax.pmap / flax.jax_utils.replicate (docs/legacy_submissions.md).')
flags.DEFINE_string('instruments', '',
                    'Look inside the run, off the clock (docs/instruments.md): a set of '
                    "Cockpit's quantities (economy, business, full) or a comma list "
                    '(loss,grad_norm,alpha,...). Logs go to <trial>/instruments.csv, '
                    'instrument_histograms/ and a dashboard <trial>/instrument_dashboard.html.')
flags.DEFINE_string('instrument_schedule', 'linear:1',
                    'Which steps the instruments track: linear:N (every N-th step) or '
                    "logarithmic:START:END[:STEPS[:BASE]] (Cockpit's log-spaced schedule: "
                    'STEPS steps between BASE**START and BASE**END).')
flags.DEFINE_integer('instrument_max_chunk_mb', 256,
                     'Memory bound of the per-example gradients the instruments hold at once '
                     '(the batch is processed in chunks that fit).')
flags.DEFINE_boolean('instrument_dashboard', True,
                     'Redraw the trial\'s instrument dashboard during the run (at most once a '
                     'minute, off the clock) and when it ends.')


def instrument_settings(flag_values: flags.FlagValues = flags.FLAGS):
  """The instrument settings the flags ask for, or None when --instruments is empty; a bad
  name or a schedule that tracks none of --max_global_steps is a usage error, at once."""
  if not flag_values.instruments:
    return None
  from absl import app

  from algoperf.instruments.observer import InstrumentSettings
  settings = InstrumentSettings(
      quantities=flag_values.instruments, schedule=flag_values.instrument_schedule,
      max_chunk_bytes=flag_values.instrument_max_chunk_mb * 2**20,
      dashboard=flag_values.instrument_dashboard)
  try:
    settings.check(flag_values.max_global_steps)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  return settings
