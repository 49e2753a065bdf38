"""The one rule, shared by the runner and the scorer, for evals after the budget.

An eval counts toward a target only if the submission time it was taken at (its `score`)
is within the budget: `score <= budget`. The runner still evaluates once when a trial runs
out of time, so its logs show where training got to, but that eval, taken past the budget,
reaches no target: not in the runner's summary, not in `trial_summary.json`, not in the
scorer (docs/scoring.md).
"""

from __future__ import annotations


def within_budget(score, budget):
  """Whether an eval at submission time `score` may count; elementwise on numpy arrays."""
  return score <= budget
