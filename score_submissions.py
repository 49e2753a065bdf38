"""Score a directory of submission logs and write the leaderboard.

  python score_submissions.py --submission_directory DIR --output_dir OUT \
      [--workload_targets algoperf_v05] [--ruleset external|self] [--strict] \
      [--held_out_workloads a,b|FILE.json|none] [--reference_submission NAME] [--tau_max 4] \
      [--trial_selection least_time|earliest_eval] [--official_algoperf] \
      [--speedup_baseline NAME] [--highlight NAME[,NAME]]

DIR holds one folder per submission, each in AlgoPerf's log layout. See docs/scoring.md.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

from absl import flags

# The scorer (pandas, matplotlib) is imported where it is used, so --help is fast.
from algoperf import cli_usage, targets_schema

if TYPE_CHECKING:
  from algoperf import scoring

flags.DEFINE_string('submission_directory', None,
                    'Directory holding one folder per submission (AlgoPerf log layout).')
flags.DEFINE_string('output_dir', 'scoring_results', 'Where to write tables, plots and pages.')
flags.DEFINE_string('workload_targets', 'lite_v1',
                    'Targets file: a path, or the name of a file shipped in '
                    'algoperf/scoring/targets/ (e.g. algoperf_v05, algoperf_v06).')
flags.DEFINE_enum('ruleset', 'external', ['external', 'self'], 'Tuning ruleset scored.')
flags.DEFINE_boolean('self_tuning_ruleset', False,
                     'AlgoPerf spelling of --ruleset=self (takes precedence when set).')
flags.DEFINE_string('held_out_workloads', '',
                    'Held-out variants that gate their base workloads: empty = the targets '
                    'file\'s list, "none" = no gating, a comma-separated list, or a JSON file '
                    'holding a list of names.')
flags.DEFINE_string('reference_submission', None,
                    'Compute ratios against this submission instead of the best per workload.')
flags.DEFINE_float('tau_max', 4.0, 'Upper end of the performance profile and the cutoff.')
flags.DEFINE_boolean('strict', False,
                     'Fail on the first problem (missing/malformed log, wrong study or trial '
                     'count, missing workload) instead of warning, and refuse to score corrupt '
                     'logs (listing all of them) instead of excluding their trials.')
flags.DEFINE_enum('trial_selection', 'least_time', ['least_time', 'earliest_eval'],
                  'Best trial of a study: least time to target (documented rule) or earliest '
                  'eval index reaching it (AlgoPerf official scorer).')
flags.DEFINE_boolean('enforce_budget', True,
                     'Ignore evals logged after the budget (documented rule); AlgoPerf\'s '
                     'official scorer does not check the budget.')
flags.DEFINE_boolean('gate_unlisted_variants', False,
                     'With no held-out list, let every variant found in the logs gate its base '
                     '(AlgoPerf official scorer).')
flags.DEFINE_boolean('official_algoperf', False,
                     'Reproduce AlgoPerf\'s official scorer: earliest_eval, no budget check, '
                     'unlisted variants gate (explicit flags still win).')
flags.DEFINE_string('speedup_baseline', None,
                    'Also compute speedups of every submission over this submission.')
flags.DEFINE_list('exclude_submissions', [], 'Submission folders to leave out.')
flags.DEFINE_list('highlight', [],
                  'Submission(s) to highlight (your own run): marked in the tables, drawn on '
                  'top in the plots.')
FLAGS = flags.FLAGS

_QUIRK_FLAGS = ('trial_selection', 'enforce_budget', 'gate_unlisted_variants')


def held_out_from_flag(value: str) -> tuple[str, ...] | None:
  """None (use the targets file), () for "none", or the names listed / held in a JSON file."""
  value = value.strip()
  if not value:
    return None
  if value.lower() == 'none':
    return ()
  if value.endswith('.json'):
    with open(value) as f:
      names = json.load(f)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
      raise ValueError(f'{value}: must hold a JSON list of workload names')
    return tuple(names)
  return tuple(n.strip() for n in value.split(',') if n.strip())


def options_from_flags() -> scoring.ScoringOptions:
  from algoperf import scoring
  official = scoring.ScoringOptions.official() if FLAGS.official_algoperf else None
  quirks = {name: (getattr(official, name) if official and not FLAGS[name].present
                   else getattr(FLAGS, name)) for name in _QUIRK_FLAGS}
  return scoring.ScoringOptions(
      ruleset='self' if FLAGS.self_tuning_ruleset else FLAGS.ruleset,
      tau_max=FLAGS.tau_max,
      held_out_workloads=held_out_from_flag(FLAGS.held_out_workloads),
      reference_submission=FLAGS.reference_submission,
      strict=FLAGS.strict,
      **quirks)


def main(argv):
  del argv
  from algoperf import scoring
  try:
    targets = scoring.load_targets(FLAGS.workload_targets)
    options = options_from_flags()
    result = scoring.score_directory(FLAGS.submission_directory, targets, options,
                                     exclude=FLAGS.exclude_submissions)
    speedup_table = (scoring.speedups(result.times, FLAGS.speedup_baseline, targets,
                                      options.ruleset)
                     if FLAGS.speedup_baseline else None)
  except (scoring.ScoringError, scoring.TargetsFileError, ValueError, FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  unknown = sorted(set(FLAGS.highlight) - set(result.scores['submission']))
  if unknown:
    print(f'warning: --highlight names no scored submission: {", ".join(unknown)}',
          file=sys.stderr)
  written = scoring.write_report(result, FLAGS.output_dir, speedup_table,
                                 highlight=FLAGS.highlight)
  print(scoring.terminal_table(result, highlight=FLAGS.highlight))
  if speedup_table is not None:
    print('Speedups over', FLAGS.speedup_baseline)
    print(speedup_table[['submission', 'time_ratio', 'speedup']].to_string(index=False))
  if result.issues:
    print(f'\n{len(result.issues)} problems found; see {os.path.join(FLAGS.output_dir, "issues.txt")}')
  print(f'\nWrote {len(written)} files to {FLAGS.output_dir}')
  return 0


def targets_list() -> str:
  return ('Shipped targets files, for --workload_targets: '
          f'{", ".join(targets_schema.builtin_targets())} (algoperf/scoring/targets/).')


if __name__ == '__main__':
  flags.mark_flag_as_required('submission_directory')
  cli_usage.run(main, help_footer=targets_list)
