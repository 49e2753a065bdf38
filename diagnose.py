r"""Diagnose training instability the Deep Learning Tuning Playbook's way (docs/diagnose.md).

  python diagnose.py DIAGNOSIS --workload=W --submission_path=S --tuning_search_space=J

DIAGNOSIS, in the playbook's order:
  lr_sweep           N log-spaced learning rates, all else fixed: lr*, and which rates above
                     it are stable, unstable early, unstable mid-training or diverged
  early_instability  ~500 steps at 2*lr* and at lr*, loss at every step: an early spike a
                     sparse eval schedule would hide?
  clip_threshold     gradient norm of a large fixed training subset: clip at its p90
  warmup             an unstable rate with linear warmup over a grid of lengths

Each writes its trials (normal experiment layout), diagnosis.json, PNGs and one HTML page
to <output_dir>/<diagnosis>/ and prints a one-line verdict. Rerunning resumes: finished
trials are kept. Later diagnoses take lr* (or the unstable rate) from an lr_sweep in the
same --output_dir unless --learning_rate is given.
"""

from __future__ import annotations

import logging
import os
import sys

from absl import app, flags

# JAX, pandas and matplotlib are imported in main(), so --help and usage errors are fast.
from algoperf import cli_usage

DIAGNOSES = ('lr_sweep', 'early_instability', 'clip_threshold', 'warmup')
DEFAULT_STEPS = {'lr_sweep': 1000, 'early_instability': 500, 'clip_threshold': 1000,
                 'warmup': 1000}

flags.DEFINE_string('workload', None, 'Workload name (listed at the end of --help).')
flags.DEFINE_string('submission_path', None, 'The submission .py file, as for '
                    'submission_runner.py.')
flags.DEFINE_string('tuning_search_space', None,
                    'Its search space JSON (either AlgoPerf form). The diagnosed point is '
                    'the one trial --hparam_index of study 0 would run.')
flags.DEFINE_integer('hparam_index', 0, 'Which point of the search space (0-based).')
flags.DEFINE_multi_string('set', [], 'NAME=VALUE: override one hyperparameter of the point '
                          '(repeatable; VALUE read as JSON), e.g. --set=warmup_factor=0.')
flags.DEFINE_string('lr_name', 'learning_rate',
                    'The hyperparameter that is the learning rate (the one swept).')
flags.DEFINE_string('output_dir', None,
                    'Where diagnoses write (default: diagnoses/<workload>); each its own '
                    '<output_dir>/<diagnosis>/ folder.')
flags.DEFINE_integer('steps', None, 'Steps per trial (default: lr_sweep 1000, '
                     'early_instability 500, clip_threshold 1000, warmup 1000). A trial is '
                     'the first STEPS steps of the full run: same schedule over the step hint.')
flags.DEFINE_float('lr_min', None, 'lr_sweep: smallest rate (default: from the search space).')
flags.DEFINE_float('lr_max', None, 'lr_sweep: largest rate (default: from the search space).')
flags.DEFINE_integer('num_rates', 7, 'lr_sweep: number of log-spaced rates.')
flags.DEFINE_float('learning_rate', None,
                   'early_instability, clip_threshold: lr* (default: lr_sweep\'s, else the '
                   'point\'s). warmup: the unstable rate (default: lr_sweep\'s smallest '
                   'unstable rate times --warmup_rate_multiplier).')
flags.DEFINE_float('multiplier', 2.0, 'early_instability: the high rate is this times lr*.')
flags.DEFINE_integer('sparse_eval_every', 100,
                     'early_instability: the sparse eval schedule compared with (steps).')
flags.DEFINE_integer('validation_subset', 256,
                     'early_instability: validation examples whose loss is logged every step.')
flags.DEFINE_integer('grad_norm_every', None,
                     'clip_threshold: log the gradient norm every this many steps '
                     '(default: about 200 points per run).')
flags.DEFINE_integer('grad_subset', 2048,
                     'clip_threshold: training examples (eval_train split) of the "full" '
                     'gradient; the whole split when it is smaller.')
flags.DEFINE_float('clip_percentile', 90.0, 'clip_threshold: the recommended percentile.')
flags.DEFINE_list('warmup_lengths', [],
                  'warmup: lengths in steps (default: 4 log-spaced from 10 to 10% of --steps).')
flags.DEFINE_string('warmup_hparam', 'warmup_steps',
                    'warmup: the hyperparameter that sets the warmup; warmup_steps (every '
                    'reference algorithm) or warmup_factor (written as steps / step hint).')
flags.DEFINE_float('warmup_rate_multiplier', 1.0,
                   'warmup: without --learning_rate, the rate is this times lr_sweep\'s '
                   'smallest unstable rate (the Tuning Playbook suggests 10).')
flags.DEFINE_integer('rng_seed', 0, 'Base seed of the diagnosis\'s trials.')
flags.DEFINE_string('data_dir', '', 'Dataset location, as for submission_runner.py.')
flags.DEFINE_boolean('isolate_trials', True, 'Each trial in its own watched process.')
flags.DEFINE_boolean('overwrite', False, 'Delete this diagnosis\'s earlier runs first.')
flags.DEFINE_enum('progress', 'auto', ['auto', 'on', 'off'],
                  'Live progress line on stderr (auto: only on a terminal).')
FLAGS = flags.FLAGS


def _diagnosis(argv: list[str]) -> str:
  args = argv[1:]
  if len(args) != 1 or args[0] not in DIAGNOSES:
    got = ' '.join(args) or 'nothing'
    raise app.UsageError(f'name one diagnosis ({", ".join(DIAGNOSES)}); got {got}')
  return args[0]


def _config(diagnosis_lib):
  """The diagnosed submission, workload and point; one usage error per bad flag."""
  from algoperf.diagnosis.config import DiagnosisConfig, base_point, parse_overrides
  from workloads import registry
  for name in ('workload', 'submission_path', 'tuning_search_space'):
    if not getattr(FLAGS, name):
      raise app.UsageError(f'--{name} is required')
  try:
    registry.get_workload(FLAGS.workload)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  if not os.path.isfile(FLAGS.submission_path):
    raise app.UsageError(f'--submission_path: no file {FLAGS.submission_path}')
  point = base_point(FLAGS.tuning_search_space, FLAGS.hparam_index, FLAGS.rng_seed,
                     parse_overrides(FLAGS.set), FLAGS.lr_name)
  output_dir = FLAGS.output_dir or os.path.join('diagnoses', FLAGS.workload)
  return DiagnosisConfig(
      submission_path=FLAGS.submission_path, workload=FLAGS.workload,
      search_space=FLAGS.tuning_search_space,
      output_dir=os.path.abspath(os.path.expanduser(output_dir)), point=point,
      lr_name=FLAGS.lr_name, rng_seed=FLAGS.rng_seed,
      data_dir=os.path.expanduser(FLAGS.data_dir), isolate_trials=FLAGS.isolate_trials,
      show_progress={'auto': None, 'on': True, 'off': False}[FLAGS.progress])


def _positive(name: str, minimum: float = 1) -> None:
  value = getattr(FLAGS, name)
  if value is not None and value < minimum:
    raise app.UsageError(f'--{name} must be >= {minimum:g}, got {value}')


def _run(diagnosis: str, config, steps: int):
  """Build the diagnosis's settings from the flags and run it."""
  from algoperf.diagnosis import clip_threshold, early_instability, grid, lr_sweep, rates
  from algoperf.diagnosis import warmup as warmup_lib
  from algoperf.diagnosis.config import learning_rate_range
  if diagnosis == 'lr_sweep':
    low, high = FLAGS.lr_min, FLAGS.lr_max
    if low is None or high is None:
      default_low, default_high = learning_rate_range(config.search_space, config.lr_name)
      low = default_low if low is None else low
      high = default_high if high is None else high
    rates_grid = grid.log_grid(low, high, FLAGS.num_rates)
    return lr_sweep.run(config, lr_sweep.SweepSettings(tuple(rates_grid), steps),
                        FLAGS.overwrite)
  if diagnosis == 'early_instability':
    rate, source = rates.lr_star(config, FLAGS.learning_rate)
    return early_instability.run(config, early_instability.EarlySettings(
        rate, source, FLAGS.multiplier, steps, FLAGS.validation_subset,
        FLAGS.sparse_eval_every), FLAGS.overwrite)
  if diagnosis == 'clip_threshold':
    rate, source = rates.lr_star(config, FLAGS.learning_rate)
    every = FLAGS.grad_norm_every or max(1, steps // 200)
    return clip_threshold.run(config, clip_threshold.ClipSettings(
        rate, source, steps, every, FLAGS.grad_subset, FLAGS.clip_percentile),
        FLAGS.overwrite)
  rate, source = rates.unstable_rate(config, FLAGS.learning_rate,
                                     FLAGS.warmup_rate_multiplier)
  try:
    lengths = [int(w) for w in FLAGS.warmup_lengths]
  except ValueError as e:
    raise app.UsageError(f'--warmup_lengths must be integers: {e}') from e
  lengths = (grid.check_warmup_lengths(lengths, steps) if lengths
             else grid.warmup_grid(steps))
  from workloads import registry
  return warmup_lib.run(config, warmup_lib.WarmupSettings(
      rate, source, tuple(lengths), steps, registry.get_workload(config.workload).step_hint,
      FLAGS.warmup_hparam, rates.sweep_reference(config, steps)), FLAGS.overwrite)


def main(argv):
  diagnosis = _diagnosis(argv)
  logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s',
                      force=True)
  logging.getLogger('algoperf').setLevel(logging.INFO)
  for name in ('steps', 'num_rates', 'sparse_eval_every', 'validation_subset',
               'grad_norm_every', 'grad_subset'):
    _positive(name)
  if FLAGS.multiplier <= 0 or FLAGS.warmup_rate_multiplier <= 0:
    raise app.UsageError('--multiplier and --warmup_rate_multiplier must be positive')
  if not 0 < FLAGS.clip_percentile <= 100:
    raise app.UsageError(f'--clip_percentile must be in (0, 100], got {FLAGS.clip_percentile}')
  if FLAGS.learning_rate is not None and FLAGS.learning_rate <= 0:
    raise app.UsageError(f'--learning_rate must be positive, got {FLAGS.learning_rate}')
  from algoperf import experiment, submission, tuning
  from algoperf.diagnosis import rules
  from algoperf.diagnosis.config import DiagnosisError
  steps = FLAGS.steps or DEFAULT_STEPS[diagnosis]
  if steps < rules.Rule().min_points:
    print(f'warning: --steps={steps} logs fewer than the {rules.Rule().min_points} points '
          'per run the rules need: the runs are written, but not judged', file=sys.stderr)
  try:
    config = _config(diagnosis)
    summary = _run(diagnosis, config, steps)
  except (DiagnosisError, submission.SubmissionError, tuning.SearchSpaceError,
          experiment.ExperimentError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except KeyboardInterrupt as e:
    return cli_usage.report_interrupted(e, 'Rerun the same command')
  folder = config.folder(diagnosis)
  print(f'\n{diagnosis}: {summary["verdict"]}')
  print(f'page: {os.path.join(folder, diagnosis + ".html")}')
  return 0


def workload_list() -> str:
  from workloads import registry
  return 'Workloads: ' + ', '.join(registry.workload_names())


if __name__ == '__main__':
  cli_usage.run(main, help_footer=workload_list)
