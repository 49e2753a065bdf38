"""Score a set of submissions end to end: logs -> trials -> studies -> times -> scores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from algoperf.scoring import aggregate, profiles, reader, trials
from algoperf.scoring.issues import EXCLUDED_COLUMNS, Issues
from algoperf.scoring.targets import RULESETS, BenchmarkTargets


@dataclasses.dataclass(frozen=True)
class ScoringOptions:
  """How to score. Defaults follow AlgoPerf's documented rules.

  `official()` switches on every known behaviour of AlgoPerf's official scorer that departs
  from its documentation (docs/scoring.md lists them), to reproduce published numbers.
  """
  ruleset: str = 'external'
  tau_max: float = profiles.DEFAULT_TAU_MAX
  num_points: int = profiles.DEFAULT_NUM_POINTS
  trial_selection: str = 'least_time'
  enforce_budget: bool = True
  gate_unlisted_variants: bool = False
  held_out_workloads: tuple[str, ...] | None = None  # None: the targets file's list
  reference_submission: str | None = None
  strict: bool = False

  @classmethod
  def official(cls, **overrides) -> ScoringOptions:
    quirks = dict(trial_selection='earliest_eval', enforce_budget=False,
                  gate_unlisted_variants=True)
    return cls(**{**quirks, **overrides})

  def check(self, targets: BenchmarkTargets) -> None:
    if self.ruleset not in RULESETS:
      raise ValueError(f'ruleset must be one of {RULESETS}, got {self.ruleset!r}')
    if self.trial_selection not in aggregate.TRIAL_SELECTIONS:
      raise ValueError(f'trial_selection must be one of {aggregate.TRIAL_SELECTIONS}')
    if not self.tau_max > 1:
      raise ValueError(f'tau_max must be greater than 1, got {self.tau_max}')
    if self.num_points < 2:
      raise ValueError(f'num_points must be at least 2, got {self.num_points}')
    for name in self.held_out_workloads or ():
      if name not in targets.workloads or name in targets.base_workloads:
        raise ValueError(f'held-out workload {name!r} is not a variant in {targets.source}')

  def held_out(self, targets: BenchmarkTargets) -> tuple[str, ...]:
    if self.held_out_workloads is None:
      return targets.held_out_workloads
    return tuple(self.held_out_workloads)


@dataclasses.dataclass(frozen=True)
class ScoringResult:
  """Every table of one scoring run, from per-trial results to the leaderboard."""
  targets: BenchmarkTargets
  options: ScoringOptions
  trials: pd.DataFrame  # one row per trial (the per-submission summary)
  studies: pd.DataFrame  # one row per study: selected trial and time
  times: pd.DataFrame  # submissions x workloads, median over studies; NaN = no runs
  gated_times: pd.DataFrame  # submissions x base workloads after gating and cutoff
  ratios: pd.DataFrame
  profile: pd.DataFrame  # submissions x tau
  scores: pd.DataFrame  # submission, score, rank, solved
  issues: tuple[str, ...]
  # one row per trial left out for corrupt logs (EXCLUDED_COLUMNS)
  excluded: pd.DataFrame = dataclasses.field(
      default_factory=lambda: pd.DataFrame(columns=EXCLUDED_COLUMNS))
  # Submissions that evaluated ensembles (docs/ensembles.md), outside AlgoPerf's rules and
  # never in `scores`: per submission, times to target per scored workload, the most
  # members and the most extra memory (MiB) any of their evals used.
  ensembles: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

  @property
  def excluded_counts(self) -> pd.Series:
    """Per submission scored without some of its trials, how many were left out."""
    return self.excluded.groupby('submission', sort=True).size()

  @property
  def submissions(self) -> list[str]:
    """Every submission scored or listed: the rules' leaderboard, then the ensembles."""
    return list(self.scores.get('submission', [])) + list(self.ensembles.index)

  @property
  def held_out(self) -> tuple[str, ...]:
    return self.options.held_out(self.targets)

  @property
  def scored_workloads(self) -> list[str]:
    """Base workloads, then the held-out variants that gate them."""
    return list(self.targets.base_workloads) + list(self.held_out)

  @property
  def unscored_times(self) -> pd.DataFrame:
    """Times on the workloads in the logs that are not scored (variants run as robustness
    checks), for the submissions that ran any of them; empty when there are none."""
    scored = set(self.scored_workloads)
    columns = [w for w in self.targets.workloads if w not in scored and w in self.times]
    return self.times[columns].dropna(how='all')


def gating_variants(times: pd.DataFrame, targets: BenchmarkTargets,
                    options: ScoringOptions) -> dict[str, str]:
  """Variant -> base for the variants whose misses disqualify their base."""
  held_out = options.held_out(targets)
  if not held_out and options.gate_unlisted_variants:
    held_out = [w for w in times.columns if w not in targets.base_workloads]
  return {v: targets.base_of(v) for v in held_out}


def leaderboard(scores: pd.Series, ratios: pd.DataFrame) -> pd.DataFrame:
  """Scores with rank (ties share the better rank) and number of base workloads solved."""
  table = pd.DataFrame({'submission': scores.index, 'score': scores.to_numpy(),
                        'solved': np.isfinite(ratios).sum(axis=1).to_numpy(),
                        'num_base_workloads': ratios.shape[1]})
  table.insert(2, 'rank', table['score'].rank(method='min', ascending=False).astype(int))
  return table.sort_values(['rank', 'submission']).reset_index(drop=True)


def score_times(times: pd.DataFrame, targets: BenchmarkTargets, options: ScoringOptions,
                *, trials_table: pd.DataFrame | None = None,
                studies: pd.DataFrame | None = None,
                issues: Issues | None = None) -> ScoringResult:
  """Scores from a submissions x workloads table of times (e.g. a published one)."""
  options.check(targets)
  if options.reference_submission is not None and options.reference_submission not in times.index:
    raise ValueError(f'reference submission {options.reference_submission!r} is not among the '
                     f'scored submissions {list(times.index)}')
  variants = gating_variants(times, targets, options)
  gated = profiles.apply_cutoffs(times, targets.base_workloads, variants, options.tau_max)
  ratios = profiles.performance_ratios(gated, options.reference_submission)
  profile = profiles.performance_profile(ratios, options.tau_max, options.num_points,
                                         num_workloads=len(targets.base_workloads))
  scores = profiles.benchmark_scores(profile)
  return ScoringResult(
      targets=targets, options=options,
      trials=trials_table if trials_table is not None else pd.DataFrame(),
      studies=studies if studies is not None else pd.DataFrame(),
      times=times, gated_times=gated, ratios=ratios, profile=profile,
      scores=leaderboard(scores, ratios),
      issues=tuple(issues.messages) if issues else (),
      excluded=issues.excluded_table() if issues else pd.DataFrame(columns=EXCLUDED_COLUMNS))


def ensemble_submissions(evals: pd.DataFrame) -> list[str]:
  """Submissions any of whose evals evaluated an ensemble: outside AlgoPerf's rules."""
  if evals.empty or 'ensemble_members' not in evals:
    return []
  most = evals.groupby('submission')['ensemble_members'].max()
  return sorted(most[most > 0].index)


def ensemble_table(evals: pd.DataFrame, times: pd.DataFrame,
                   submissions: list[str]) -> pd.DataFrame:
  """The ensemble category: times to target, members and extra eval memory per submission."""
  if not submissions:
    return pd.DataFrame()
  used = evals[evals['submission'].isin(submissions)].groupby('submission')
  table = times.reindex(index=submissions).copy()
  table['members'] = used['ensemble_members'].max().reindex(submissions).astype(int)
  table['extra_param_MiB'] = (used['ensemble_extra_bytes'].max().reindex(submissions)
                              / 2**20)
  return table


def score_evals(evals: pd.DataFrame, targets: BenchmarkTargets, options: ScoringOptions,
                submissions: list[str] | None = None, issues: Issues | None = None
                ) -> ScoringResult:
  """Scores from the long eval table of `reader.read_submissions`; submissions that evaluated
  ensembles go to `ScoringResult.ensembles` instead of the score (docs/ensembles.md)."""
  options.check(targets)
  issues = issues or Issues(options.strict)
  if submissions is None:
    submissions = sorted(evals['submission'].unique())
  trials_table = trials.trial_results(evals, targets, options.ruleset, options.enforce_budget)
  studies = aggregate.study_times(trials_table, options.trial_selection)
  expected = list(targets.base_workloads) + list(options.held_out(targets))
  aggregate.check_counts(studies, submissions, expected, targets, options.ruleset, issues)
  extra = sorted(set(studies['workload']) - set(expected))
  ensembles = ensemble_submissions(evals)
  rules = [s for s in submissions if s not in ensembles]
  all_times = aggregate.workload_times(studies, submissions, expected + extra)
  result = score_times(all_times.reindex(index=rules), targets, options,
                       trials_table=trials_table, studies=studies, issues=issues)
  return dataclasses.replace(
      result, ensembles=ensemble_table(evals, all_times[expected], ensembles))


def score_directory(directory: str, targets: BenchmarkTargets, options: ScoringOptions,
                    exclude=()) -> ScoringResult:
  """Read every submission folder under `directory` and score them together."""
  options.check(targets)
  issues = Issues(options.strict)
  evals = reader.read_submissions(directory, targets, issues, exclude)
  submissions = reader.submission_names(directory, exclude)
  return score_evals(evals, targets, options, submissions, issues)
