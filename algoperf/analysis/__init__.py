"""DeepOBS-style analysis of training logs: learning curves with inter-quartile bands,
hyperparameter sensitivity, a summary table, and seed reruns of a study's best setting.

Works on any workload's AlgoPerf-layout logs; docs/analysis.md describes every output.
One module per job: `runs` (read the tree), `workload_targets` (target and direction),
`results` (per-trial outcomes, best trial), `curves` (common grid, median/IQR), `summary`,
`figures`, `pipeline` (all of it), `report` (files on disk), `rerun` (seed reruns; import
it as `algoperf.analysis.rerun`: it runs trials, so it loads JAX, which reading logs does
not need).
"""

from algoperf.analysis.pipeline import AnalysisOptions, AnalysisResult, analyze_directory
from algoperf.analysis.report import (
    analysis_outputs,
    analyze,
    page_links,
    terminal_table,
    write_analysis,
)
from algoperf.analysis.results import best_trial

__all__ = [
    'AnalysisOptions', 'AnalysisResult', 'analysis_outputs', 'analyze', 'analyze_directory',
    'best_trial', 'page_links', 'terminal_table', 'write_analysis',
]
