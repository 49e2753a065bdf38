r"""Train a submission on a workload under the submission clock; log every eval.

Flags follow MLCommons AlgoPerf's `submission_runner.py`, so its command lines work here.

Example (external tuning: 3 NAdamW trials on MNIST-1D, offline):

  python submission_runner.py --workload=mnist1d \
      --submission_path=reference_algorithms/nadamw/submission.py \
      --tuning_search_space=reference_algorithms/nadamw/tuning_search_space.json \
      --num_tuning_trials=3 --experiment_dir=experiments --experiment_name=nadamw

Logs go to <experiment_dir>/<experiment_name>/study_<k>/<workload>_jax/trial_<i>/.
"""

import datetime
import logging
import os
import sys

from absl import app, flags

from algoperf import algoperf_flags, cli_usage, trial_flags
from algoperf.trace import TRACE_FIRST_STEP, TRACE_NUM_STEPS

# Heavy modules (JAX, Orbax, SciPy) are imported in main(), so --help and flag errors are fast.
RULESETS = ('external', 'self')  # algoperf.tuning.RULESETS, checked by a test

flags.DEFINE_string('submission_path', None, 'Path to the submission .py file.')
flags.DEFINE_string('workload', None, 'Workload name (listed at the end of --help).')
flags.DEFINE_enum('tuning_ruleset', 'external', list(RULESETS),
                  'external: N trials from a search space; self: one trial, no '
                  'hyperparameters, budget x1.5 (AlgoPerf v0.6).')
flags.DEFINE_string('tuning_search_space', None,
                    'Search space JSON (AlgoPerf dict form with ranges/feasible_points, '
                    'or a list of fixed points). Required for the external ruleset.')
flags.DEFINE_integer('num_tuning_trials', 1, 'Trials per study (external ruleset).')
flags.DEFINE_integer('num_studies', 1, 'Studies to run in this invocation.')
flags.DEFINE_integer('study_start_index', 0,
                     'Index of the first study (study_<k> folder); lets several '
                     'processes run different studies of one experiment.')
flags.DEFINE_integer('rng_seed', None,
                     'Base seed; study and trial seeds derive from it. Random (and '
                     'recorded) when unset; a resumed run reuses the recorded one.')
flags.DEFINE_integer('pool_seed', None,
                     'Seed of the quasirandom hyperparameter pool (default: from '
                     '--rng_seed).')
flags.DEFINE_integer('hparam_start_index', None,
                     'First trial index (0-based, inclusive) this process runs.')
flags.DEFINE_integer('hparam_end_index', None,
                     'Trial index (0-based, exclusive) where this process stops.')
flags.DEFINE_string('data_dir', '', 'Dataset location. When given, it is the only place '
                    'a workload reads files from (missing files are an error); default: '
                    'each workload\'s own location (Debian package folders, TFDS\'s default; '
                    'MNIST-1D is generated and cached under $ALGOPERF_CACHE_DIR, default '
                    '~/.cache/algoperf).')
flags.DEFINE_string('imagenet_v2_data_dir', None,
                    'ImageNet-v2 location, passed to the workload\'s eval (AlgoPerf flag).')
flags.DEFINE_enum('framework', 'jax', ['jax', 'pytorch'],
                  'Only jax is implemented; pytorch is rejected with an error.')
flags.DEFINE_string('experiment_dir', 'experiments', 'Root directory of all experiments.')
flags.DEFINE_string('experiment_name', None,
                    'Experiment folder name (default: the submission folder name).')
flags.DEFINE_boolean('append_timestamp', False,
                     'Append the current date and time to the experiment name.')
flags.DEFINE_integer('max_global_steps', None, 'Stop each trial after this many steps.')
flags.DEFINE_boolean('save_checkpoints', True, 'Checkpoint at every eval (for resume).')
flags.DEFINE_boolean('save_intermediate_checkpoints', False,
                     'Keep every checkpoint instead of only the latest.')
flags.DEFINE_boolean('resume_last_run', False,
                     'Continue the trials already in the experiment folder: finished '
                     'ones are kept, interrupted ones resume from their checkpoint.')
flags.DEFINE_boolean('overwrite', False,
                     'Delete the existing trial folders this run would write, then start.')
flags.DEFINE_enum('progress', 'auto', ['auto', 'on', 'off'],
                  'Live progress line on stderr (auto: only on a terminal).')
flags.DEFINE_boolean('isolate_trials', True,
                     'Run each trial in its own process under a watchdog, so a submission '
                     'that exits, crashes or hangs ends only its trial (docs/reliability.md). '
                     '--noisolate_trials runs trials in this process, e.g. under a debugger, '
                     'without that protection.')
flags.DEFINE_boolean('strict', False,
                     'Refuse a submission the static compliance check flags (private '
                     'workload attributes, frame inspection, gc, reading data files, ...; '
                     'docs/compliance.md). Without it the findings are warnings.')
flags.DEFINE_float('watchdog_margin_sec', 60.0,
                   'The watchdog kills a trial whose submission code has run longer than '
                   'its budget + 10% + this many seconds (a step that never returns).')
flags.DEFINE_boolean('skip_evals', False,
                     'As AlgoPerf: no evaluation during training, only the final one when '
                     'the trial ends (to time or profile steps). The trial runs to its '
                     'budget or --max_global_steps, since no eval can find a target early.')
flags.DEFINE_boolean('capture_jax_trace', False,
                     'Write a jax.profiler trace (TensorBoard/Perfetto) of steps '
                     f'{TRACE_FIRST_STEP}-{TRACE_FIRST_STEP + TRACE_NUM_STEPS - 1} to '
                     '<trial folder>/jax_trace. The profiler\'s overhead is billed like '
                     'any other work, so do not score a traced run.')
algoperf_flags.define_no_effect_flags()
FLAGS = flags.FLAGS


def main(argv):
  del argv
  # Our own messages at INFO; libraries (Orbax logs every save at INFO) at WARNING.
  logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s',
                      force=True)
  logging.getLogger('algoperf').setLevel(logging.INFO)
  if FLAGS.framework != 'jax':
    raise app.UsageError('Only --framework=jax is implemented.')
  if not FLAGS.submission_path or not FLAGS.workload:
    raise app.UsageError('--submission_path and --workload are required.')
  notice = algoperf_flags.no_effect_notice()
  if notice:
    print(notice, file=sys.stderr)
  from algoperf import experiment, isolation, submission, tuning
  from workloads import registry
  try:
    registry.get_workload(FLAGS.workload)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  name = FLAGS.experiment_name or os.path.basename(
      os.path.dirname(os.path.abspath(FLAGS.submission_path)))
  if FLAGS.append_timestamp:
    name += datetime.datetime.now().strftime('-%Y-%m-%d-%H-%M-%S')
  try:
    config = experiment.ExperimentConfig(
        submission_path=FLAGS.submission_path, workload_name=FLAGS.workload,
        experiment_dir=os.path.abspath(os.path.expanduser(FLAGS.experiment_dir)),
        experiment_name=name, tuning_ruleset=FLAGS.tuning_ruleset,
        tuning_search_space=FLAGS.tuning_search_space,
        num_tuning_trials=FLAGS.num_tuning_trials, num_studies=FLAGS.num_studies,
        study_start_index=FLAGS.study_start_index, rng_seed=FLAGS.rng_seed,
        pool_seed=FLAGS.pool_seed, hparam_start_index=FLAGS.hparam_start_index,
        hparam_end_index=FLAGS.hparam_end_index,
        data_dir=os.path.expanduser(FLAGS.data_dir),
        imagenet_v2_data_dir=FLAGS.imagenet_v2_data_dir,
        max_global_steps=FLAGS.max_global_steps, save_checkpoints=FLAGS.save_checkpoints,
        save_intermediate_checkpoints=FLAGS.save_intermediate_checkpoints,
        resume_last_run=FLAGS.resume_last_run, overwrite=FLAGS.overwrite,
        flags=FLAGS.flag_values_dict(),
        show_progress={'auto': None, 'on': True, 'off': False}[FLAGS.progress],
        isolate_trials=FLAGS.isolate_trials, strict=FLAGS.strict,
        skip_evals=FLAGS.skip_evals, capture_jax_trace=FLAGS.capture_jax_trace,
        legacy_pmap=FLAGS.legacy_pmap, instruments=trial_flags.instrument_settings(),
        watchdog=isolation.WatchdogLimits(margin_sec=FLAGS.watchdog_margin_sec))
    outcomes = experiment.run_experiment(
        config, registry.workload_class(FLAGS.workload),
        registry.base_workload_name(FLAGS.workload))
  except (submission.SubmissionError, tuning.SearchSpaceError,
          experiment.ExperimentError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except KeyboardInterrupt as e:
    return cli_usage.report_interrupted(e, 'Rerun the same command with --resume_last_run')
  for line in experiment.study_summary(outcomes):
    print(line)
  print(f'logs: {os.path.join(config.experiment_dir, config.experiment_name)}')
  return 1 if any(o.error for o in outcomes) else 0  # Failed trials are named above.


def workload_list() -> str:
  from workloads import registry
  return 'Workloads: ' + ', '.join(registry.workload_names())


if __name__ == '__main__':
  cli_usage.run(main, help_footer=workload_list)
