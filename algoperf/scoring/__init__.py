"""Scoring and leaderboards: time-to-target, performance profiles, benchmark scores, speedups.

Faithful to MLCommons AlgoPerf's definitions; docs/scoring.md states the rules, the targets
file schema and every known departure of AlgoPerf's official scorer from its documentation.
"""

from algoperf.scoring.aggregate import TRIAL_SELECTIONS, check_counts, study_times, workload_times
from algoperf.scoring.issues import Issues, ScoringError
from algoperf.scoring.pipeline import (
    ScoringOptions,
    ScoringResult,
    score_directory,
    score_evals,
    score_times,
)
from algoperf.scoring.profiles import (
    apply_cutoffs,
    benchmark_scores,
    performance_profile,
    performance_ratios,
    tau_grid,
)
from algoperf.scoring.reader import read_eval_file, read_submission, read_submissions
from algoperf.scoring.report import html_page, markdown_table, terminal_table, write_report
from algoperf.scoring.speedups import speedups
from algoperf.scoring.targets import (
    BenchmarkTargets,
    RulesetCounts,
    TargetsFileError,
    WorkloadTarget,
    builtin_targets,
    load_targets,
    targets_from_dict,
    targets_from_workloads,
    validate_targets,
    write_targets,
)
from algoperf.scoring.trials import trial_results

__all__ = [
    'TRIAL_SELECTIONS', 'BenchmarkTargets', 'Issues', 'RulesetCounts', 'ScoringError',
    'ScoringOptions', 'ScoringResult', 'TargetsFileError', 'WorkloadTarget', 'apply_cutoffs',
    'benchmark_scores', 'builtin_targets', 'check_counts', 'html_page', 'load_targets',
    'markdown_table', 'performance_profile', 'performance_ratios', 'read_eval_file',
    'read_submission', 'read_submissions', 'score_directory', 'score_evals', 'score_times',
    'speedups', 'study_times', 'tau_grid', 'targets_from_dict', 'targets_from_workloads',
    'terminal_table', 'trial_results', 'validate_targets', 'workload_times', 'write_report',
    'write_targets',
]
