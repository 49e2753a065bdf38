r"""Analyse training logs: learning curves, hyperparameter sensitivity, a summary table.

  python analyze_runs.py --experiment_dir=DIR --output_dir=OUT \
      [--workload_targets=NAME|PATH] [--workloads=a,b] [--num_points=200] \
      [--sensitivity_value=best|final]

DIR is a root of experiment folders (one per submission, AlgoPerf log layout:
DIR/<experiment_name>/study_<k>/<workload>_jax/trial_<i>/), or one experiment folder.
OUT receives index.html, index.md, summary.csv/.md, trials.csv and per workload
curves_<w>.png/.csv and sensitivity_<w>.png.

Seed reruns of a study's best setting (then, with --experiment_dir, the analysis):

  python analyze_runs.py --rerun_best_seeds=5 --rerun_study=DIR/NAME/study_0 \
      [--workload=mnist1d] [--rng_seed=1] [--max_global_steps=N] [--submission_path=P] \
      [--experiment_dir=DIR --output_dir=OUT]

See docs/analysis.md.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from absl import app, flags

# The analysis and the scorer (pandas, matplotlib) are imported where they are used, so
# --help and usage errors are fast.
from algoperf import cli_usage

if TYPE_CHECKING:
  from algoperf import scoring

flags.DEFINE_string('experiment_dir', None,
                    'Root of experiment folders (one per submission), or one experiment '
                    'folder, to analyse. Required unless only --rerun_best_seeds is asked.')
flags.DEFINE_string('output_dir', 'analysis_results',
                    'Where to write index.html/.md, tables and plots.')
flags.DEFINE_string('workload_targets', '',
                    'Targets file (a path, or the name of a file shipped in '
                    'algoperf/scoring/targets/, as for score_submissions.py): its targets win '
                    'for the workloads it lists. Empty or "none": every target comes from '
                    'what the trials recorded in meta_data_0.json.')
flags.DEFINE_enum('ruleset', 'external', ['external', 'self'],
                  'Ruleset whose budget factor applies to targets-file budgets.')
flags.DEFINE_boolean('enforce_budget', True,
                     'Evals logged after the budget cannot reach the target (as the scorer).')
flags.DEFINE_list('workloads', [], 'Analyse only these workloads (default: all found).')
flags.DEFINE_list('exclude_submissions', [], 'Experiment folders to leave out.')
flags.DEFINE_integer('num_points', 200, 'Points of the common grid of the learning curves.')
flags.DEFINE_enum('sensitivity_value', 'best', ['best', 'final'],
                  'Per trial, plot the best or the final validation value against its '
                  'hyperparameters.')
flags.DEFINE_boolean('strict', False,
                     'Fail on the first problem in the logs instead of warning.')
flags.DEFINE_integer('rerun_best_seeds', 0,
                     'K > 0: rerun the best trial of --rerun_study with K new seeds, as a new '
                     'study folder next to it.')
flags.DEFINE_string('rerun_study', None, 'The study_<k> folder whose best trial is rerun.')
flags.DEFINE_string('workload', None,
                    'Workload of --rerun_study to rerun (needed when it holds several).')
flags.DEFINE_integer('rng_seed', None,
                     'Base seed of the rerun study (random and recorded when unset).')
flags.DEFINE_integer('max_global_steps', None,
                     'Step limit of the reruns (default: the best trial\'s own limit).')
flags.DEFINE_string('submission_path', None,
                    'Submission file of the reruns (default: the one the best trial recorded).')
flags.DEFINE_string('data_dir', None,
                    'Dataset location of the reruns (default: the best trial\'s --data_dir).')
FLAGS = flags.FLAGS


def targets_from_flag(value: str) -> scoring.BenchmarkTargets | None:
  from algoperf import scoring
  return None if value.strip().lower() in ('', 'none') else scoring.load_targets(value)


def rerun(targets: scoring.BenchmarkTargets | None) -> bool | None:
  """The --rerun_best_seeds mode, on a workload of the registry: True when every rerun
  trial ran, False when one failed, None (after printing why) when none could start."""
  # Deferred: running trials loads JAX; analysis alone does not need it.
  from algoperf import experiment, scoring, submission, tuning
  from algoperf.analysis import rerun as rerun_lib
  from workloads import registry
  study = os.path.abspath(os.path.expanduser(FLAGS.rerun_study))
  try:
    _, name = rerun_lib.study_best_trial(study, FLAGS.workload, targets, FLAGS.ruleset)
    base = registry.base_workload_name(name)
    done = rerun_lib.rerun_best_seeds(
        study, FLAGS.rerun_best_seeds, registry.workload_class(name), base,
        workload=name, targets=targets, ruleset=FLAGS.ruleset, rng_seed=FLAGS.rng_seed,
        submission_path=FLAGS.submission_path, max_global_steps=FLAGS.max_global_steps,
        data_dir=FLAGS.data_dir)
  except (rerun_lib.RerunError, submission.SubmissionError, tuning.SearchSpaceError,
          experiment.ExperimentError, scoring.ScoringError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return None
  print(f'reran {done.source_trial} ({done.reason}) with seeds {done.seeds}: '
        f'{done.study_dir}')
  return not any(o.error for o in done.outcomes)


def main(argv):
  del argv
  # As submission_runner.py: our own messages at INFO, libraries (Orbax) at WARNING.
  logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s',
                      force=True)
  logging.getLogger('algoperf').setLevel(logging.INFO)
  if FLAGS.rerun_best_seeds < 0:
    raise app.UsageError('--rerun_best_seeds must be >= 0')
  if FLAGS.rerun_best_seeds and not FLAGS.rerun_study:
    raise app.UsageError('--rerun_best_seeds needs --rerun_study=<experiment>/study_<k>')
  if not FLAGS.rerun_best_seeds and not FLAGS.experiment_dir:
    raise app.UsageError('--experiment_dir is required (or --rerun_best_seeds with '
                         '--rerun_study)')
  from algoperf import analysis, scoring
  try:
    targets = targets_from_flag(FLAGS.workload_targets)
  except (scoring.TargetsFileError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  failed = False
  if FLAGS.rerun_best_seeds:
    ran = rerun(targets)
    if ran is None:
      return 1
    failed = not ran
  if not FLAGS.experiment_dir:
    return 1 if failed else 0
  try:
    options = analysis.AnalysisOptions(
        targets=targets, ruleset=FLAGS.ruleset, enforce_budget=FLAGS.enforce_budget,
        num_points=FLAGS.num_points, sensitivity_value=FLAGS.sensitivity_value,
        workloads=tuple(FLAGS.workloads) or None,
        exclude_submissions=tuple(FLAGS.exclude_submissions), strict=FLAGS.strict)
    result = analysis.analyze_directory(os.path.expanduser(FLAGS.experiment_dir), options)
  except (scoring.ScoringError, ValueError, FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  written = analysis.write_analysis(result, FLAGS.output_dir)
  print(analysis.terminal_table(result))
  if result.issues:
    print(f'\n{len(result.issues)} problems found; see '
          f'{os.path.join(FLAGS.output_dir, "issues.txt")}')
  print(f'\nWrote {len(written)} files to {FLAGS.output_dir} '
        f'(open {os.path.join(FLAGS.output_dir, "index.html")})')
  return 1 if failed else 0


if __name__ == '__main__':
  cli_usage.run(main)
