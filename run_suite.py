r"""Run a submission on every workload of the lite suite, then score it against baselines.

The default is the README's main job: NAdamW on the offline lite suite (one trial per
workload), scored with the stored baselines into an HTML leaderboard:

  python run_suite.py

Your own algorithm, with 3 trials of external tuning, into a chosen folder:

  python run_suite.py --submission_path=my_algo/submission.py \
      --tuning_search_space=my_algo/tuning_search_space.json --num_tuning_trials=3 \
      --experiment_dir=~/lite_runs

Running the same command again resumes an interrupted run (finished trials are kept);
--overwrite starts over. Every submission run into one --experiment_dir appears on its
leaderboard (<experiment_dir>/leaderboard/leaderboard.html) next to the baselines.
"""

import logging
import os
import sys
import webbrowser

from absl import app, flags

# Light imports only (no JAX, no scorer), so --help and usage errors come at once; the
# suite runner is imported in main().
from algoperf import cli_usage, targets_schema, trial_flags
from algoperf import suite as suite_lib

_REPO = os.path.dirname(os.path.abspath(__file__))

flags.DEFINE_string('submission_path',
                    os.path.join('reference_algorithms', 'nadamw', 'submission.py'),
                    'Path to the submission .py file.')
flags.DEFINE_string('submission_name', None,
                    'Label on the leaderboard (default: the folder holding the submission).')
flags.DEFINE_string('suite', suite_lib.LITE,
                    'Suite definition: a shipped name (lite_v1) or a path to a JSON file.')
flags.DEFINE_list('workloads', [],
                  'Only these workloads of the suite ("base" and "variants" name its two '
                  'groups; default: all its base workloads). The list is at the end of '
                  '--help.')
flags.DEFINE_boolean('include_variants', False,
                     'Also run every variant (robustness checks; not part of the score).')
flags.DEFINE_enum('tuning_ruleset', None, list(targets_schema.RULESETS),
                  'external (hyperparameters from a search space) or self; default: the '
                  "suite's default run.")
flags.DEFINE_string('tuning_search_space', None,
                    'Search space JSON (external ruleset). Default: the fixed list shipped '
                    'next to the default submission, else tuning_search_space.json next to '
                    'the submission.')
flags.DEFINE_integer('num_tuning_trials', None,
                     "Trials per study (external ruleset); default: the suite's default run.")
flags.DEFINE_integer('num_studies', None, "Studies per workload; default: the suite's.")
flags.DEFINE_integer('rng_seed', None, 'Base seed (default: fresh, recorded for resume).')
flags.DEFINE_string('experiment_dir', 'suite_results',
                    'Root folder: runs/<submission>/ and leaderboard/ go here.')
flags.DEFINE_string('baselines_dir', None,
                    'Stored baseline logs to score against (default: baselines/<suite '
                    'version>/runs in this repository; "none" for no baselines).')
flags.DEFINE_string('data_dir', None,
                    'Dataset location. When given, it is the only place a workload reads '
                    'files from (missing files are an error) and MNIST-1D caches its '
                    'generated data there. Default: each workload\'s own location (Debian '
                    'package folders, TFDS\'s default; MNIST-1D caches under '
                    '$ALGOPERF_CACHE_DIR, default ~/.cache/algoperf).')
flags.DEFINE_integer('max_global_steps', None,
                     'Stop each trial after this many steps (smoke tests).')
flags.DEFINE_boolean('save_checkpoints', True, 'Checkpoint at every eval (for resume).')
flags.DEFINE_boolean('overwrite', False, "Delete this submission's earlier run first.")
flags.DEFINE_boolean('score', True, 'Write the leaderboard after the runs.')
flags.DEFINE_boolean('open', False, 'Open the leaderboard in a web browser at the end.')
flags.DEFINE_enum('progress', 'auto', ['auto', 'on', 'off'],
                  'Live progress line per trial on stderr (auto: only on a terminal).')
flags.DEFINE_enum('probe', 'auto', ['auto', 'on', 'off'],
                  "Measure this machine's speed per workload before the suite (about 10 s "
                  "per workload) and compare it with the baselines' (docs/machine_probe.md). "
                  'auto: when the run is scored against baselines and not cut short by '
                  '--max_global_steps.')
flags.DEFINE_boolean('normalize_times', False,
                     'Also show hardware-normalised times to target (an approximation: '
                     'scaled by the per-workload probe factor), in a separate section.')
FLAGS = flags.FLAGS

DEFAULT_FIXED_SPACE = os.path.join('reference_algorithms', 'nadamw',
                                   'tuning_search_space_fixed.json')


def default_baselines_dir(suite: suite_lib.Suite) -> str:
  from algoperf import suite_runner
  return os.path.join(_REPO, 'baselines', suite.benchmark_version, suite_runner.RUNS)


def _baselines_dir(suite: suite_lib.Suite) -> str | None:
  baselines = FLAGS.baselines_dir or default_baselines_dir(suite)
  return None if baselines.lower() == 'none' else baselines


class _SpeedCheck:
  """The machine probe before the suite and the notices it leads to (docs/machine_probe.md)."""

  def __init__(self, suite, config, settings, get_workload):
    self.suite, self.config, self.settings = suite, config, settings
    self.get_workload, self.probe = get_workload, None

  def __call__(self, names: list[str]):  # run_suite's probe_fn
    from algoperf import speed_probe
    self.names = names
    if FLAGS.probe == 'on' or (FLAGS.probe == 'auto' and FLAGS.score and _baselines_dir(
        self.suite) and FLAGS.max_global_steps is None):
      self.probe = speed_probe.probe(names, data_dir=self.config.data_dir, print_fn=print)
      print('\n'.join(speed_probe.table_lines(self.probe)))
    if FLAGS.score:  # Unscored, nothing is compared with the baselines.
      self.print_notices()
    return self.probe

  def notices(self, runs=()):
    from algoperf import speed_compare, suite_runner
    return speed_compare.suite_notices(
        self.probe, _baselines_dir(self.suite), self.names, suite_runner.trial_estimates(
            self.suite, self.names, self.get_workload, self.probe, 'external'),
        self.settings['num_tuning_trials'] * self.settings['num_studies'], self.config.name,
        runs, FLAGS.normalize_times,
        os.path.join(self.config.experiment_dir, 'baselines_here'),
        score_run=self.config.experiment_dir)

  def print_notices(self, runs=()):
    from algoperf import speed_compare
    for notice in self.notices(runs):
      print(speed_compare.text(notice))


def _search_space() -> str | None:
  if FLAGS.tuning_search_space or FLAGS['submission_path'].present:
    return FLAGS.tuning_search_space
  return DEFAULT_FIXED_SPACE  # The default job: NAdamW's tuned points, in order.


def main(argv):
  del argv
  logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s',
                      force=True)
  try:
    suite = suite_lib.load_suite(FLAGS.suite)
    suite.select(list(FLAGS.workloads), FLAGS.include_variants)  # Unknown names: usage error.
  except suite_lib.SuiteError as e:
    raise app.UsageError(str(e)) from e
  if not os.path.isfile(FLAGS.submission_path):
    raise app.UsageError(f'--submission_path={FLAGS.submission_path}: no such file.')
  # Deferred: --help and flag errors should not wait for JAX imports.
  from algoperf import suite_runner
  from workloads import registry
  experiment_dir = os.path.abspath(os.path.expanduser(FLAGS.experiment_dir))
  config = suite_runner.SuiteRunConfig(
      submission_path=FLAGS.submission_path, experiment_dir=experiment_dir,
      submission_name=FLAGS.submission_name, tuning_ruleset=FLAGS.tuning_ruleset,
      tuning_search_space=_search_space(), num_tuning_trials=FLAGS.num_tuning_trials,
      num_studies=FLAGS.num_studies, workloads=tuple(FLAGS.workloads),
      include_variants=FLAGS.include_variants, rng_seed=FLAGS.rng_seed,
      data_dir=os.path.abspath(os.path.expanduser(FLAGS.data_dir)) if FLAGS.data_dir else '',
      max_global_steps=FLAGS.max_global_steps,
      save_checkpoints=FLAGS.save_checkpoints, overwrite=FLAGS.overwrite,
      show_progress={'auto': None, 'on': True, 'off': False}[FLAGS.progress],
      legacy_pmap=FLAGS.legacy_pmap, instruments=trial_flags.instrument_settings())
  settings = suite_runner.resolved(config, suite)
  print(f'Suite {suite.benchmark_version}: {config.name} '
        f'({settings["tuning_ruleset"]} ruleset, {settings["num_studies"]} study(ies) x '
        f'{settings["num_tuning_trials"]} trial(s) per workload) -> {config.submission_dir}')
  from algoperf import submission, tuning
  speed = _SpeedCheck(suite, config, settings, registry.get_workload)
  try:
    runs = suite_runner.run_suite(suite, config, registry.get_workload,
                                  registry.base_workload_name, probe_fn=speed)
  except (suite_lib.SuiteError, submission.SubmissionError, tuning.SearchSpaceError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except KeyboardInterrupt as e:
    return cli_usage.report_interrupted(e, 'Rerun the same command')
  print('\n'.join(['', *suite_runner.summary_lines(suite, runs)]))
  if FLAGS.score:
    result, written = suite_runner.score_suite(
        suite, experiment_dir, _baselines_dir(suite), ruleset=settings['tuning_ruleset'],
        notices=speed.notices(runs))
    from algoperf import scoring
    print('\n' + scoring.terminal_table(
        result, highlight=suite_runner.own_runs(result.submissions)))
    speed.print_notices(runs)
    page = os.path.join(experiment_dir, suite_runner.LEADERBOARD, 'leaderboard.html')
    print(f'\nLeaderboard: {page}')
    if FLAGS.open:
      webbrowser.open('file://' + page)
  return 1 if any(run.error for run in runs) else 0


def workload_list() -> str:
  """The workloads --workloads accepts, read from the shipped suite file (cheap)."""
  try:
    suite = suite_lib.load_suite(suite_lib.LITE)
  except suite_lib.SuiteError as e:
    return f'Workloads: see the suite file ({e}).'
  where = os.path.relpath(suite.path, _REPO)
  return (f'Workloads of {suite.benchmark_version} ({where}), for --workloads:\n'
          f'  base:     {", ".join(suite.base_workloads)}\n'
          f'  variants: {", ".join(suite.variants)}')


if __name__ == '__main__':
  cli_usage.run(main, help_footer=workload_list)
