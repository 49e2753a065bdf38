"""Search spaces, quasirandom hyperparameter points, studies and seeds.

A search space JSON file has one of AlgoPerf's two forms:

* dict form: `{"name": {"min": a, "max": b, "scaling": "linear"|"log"}, ...}` or
  `{"name": {"feasible_points": [...]}}`; points come from a quasirandom pool.
* list form: `[{"name": value, ...}, ...]`, a fixed list; trial i gets entry i in every
  study. Asking for more trials than entries is an error (AlgoPerf silently truncates,
  which hides a short study).

The pool is scipy's scrambled Halton sequence seeded by the pool seed, one dimension per
hyperparameter in sorted-name order (so reordering keys in the file changes nothing).
Study k with N trials takes pool rows [k*N, (k+1)*N): studies get different points, and
together they form a prefix of one pool. By default the pool seed is derived from the
base seed (`--rng_seed`), so fixing that flag fixes every point of every study; pass an
explicit pool seed to hold the points fixed while the base seed (and so the trial seeds)
varies. The pool is a function of (space, pool seed, scipy's Halton code): it is identical
across processes and machines with the same scipy, so record the scipy version with a run.

Seeds (design rule 5): study seeds come from the base seed and trial seeds from the study
seed through numpy's `SeedSequence` spawn keys; all are plain ints < 2**31 so the runner
can record them.

Rulesets: `external` runs N trials with hyperparameters from the space; `self` runs one
trial with `None` hyperparameters and `SELF_TUNING_BUDGET_FACTOR` times the budget. A
search space given with `self` is ignored with a warning, as AlgoPerf ignores it.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import keyword
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
from scipy.stats import qmc

EXTERNAL_BUDGET_FACTOR = 1.0
# AlgoPerf v0.6: self-tuning submissions get 1.5x the external-tuning budget (v0.5: 3x).
SELF_TUNING_BUDGET_FACTOR = 1.5
RULESETS = ('external', 'self')

_RANGE_KEYS = frozenset({'min', 'max', 'scaling'})
_CHOICE_KEYS = frozenset({'feasible_points'})
_SCALINGS = ('linear', 'log')
_SCALAR_TYPES = (str, int, float, bool, type(None))
# Spawn-key domains keep pool seeds and study seeds from one base seed independent.
_STUDY_DOMAIN = 0
_POOL_DOMAIN = 1
_MAX_SEED = 2**31


class SearchSpaceError(ValueError):
  """A search space file breaks one of the format rules; the message names both."""


@dataclasses.dataclass(frozen=True)
class Range:
  """A continuous hyperparameter sampled uniformly in linear or log space."""
  low: float
  high: float
  scaling: str


@dataclasses.dataclass(frozen=True)
class Choice:
  """A discrete hyperparameter taking one of the listed points."""
  points: tuple


@dataclasses.dataclass(frozen=True)
class QuasirandomSpace:
  """Dict form: names in file order, one `Range` or `Choice` per name."""
  source: str
  names: tuple[str, ...]
  dims: tuple[Range | Choice, ...]


@dataclasses.dataclass(frozen=True)
class FixedSpace:
  """List form: a fixed sequence of points, used in order."""
  source: str
  names: tuple[str, ...]
  points: tuple[tuple, ...]


SearchSpace = QuasirandomSpace | FixedSpace


@dataclasses.dataclass(frozen=True)
class TrialPlan:
  """What one trial runs with; trial_index is 1-based like AlgoPerf's trial_<i>."""
  study_index: int
  trial_index: int
  seed: int
  hyperparameters: Any | None


# --- Loading and validation -------------------------------------------------------------


def _fail(source: str, rule: str) -> NoReturn:
  raise SearchSpaceError(f'{source}: {rule}')


def _reject_duplicates(source: str):
  """json object hook: a repeated key would silently drop a hyperparameter."""
  def hook(pairs):
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
      _fail(source, f'duplicate key(s) {dupes} in one JSON object')
    return dict(pairs)
  return hook


def load_search_space(path: str | os.PathLike) -> SearchSpace:
  """Reads and validates a search space file, raising `SearchSpaceError` on any problem."""
  source = os.fspath(path)
  try:
    with open(source, encoding='utf-8') as f:
      text = f.read()
  except OSError as e:
    _fail(source, f'cannot read the search space file ({e.strerror})')
  try:
    obj = json.loads(text, object_pairs_hook=_reject_duplicates(source))
  except json.JSONDecodeError as e:
    _fail(source, f'not valid JSON ({e.msg} at line {e.lineno} column {e.colno})')
  return parse_search_space(obj, source)


def parse_search_space(obj: Any, source: str = '<search space>') -> SearchSpace:
  """Validates an already-decoded search space; `source` names it in errors."""
  if isinstance(obj, dict):
    return _parse_dict_form(obj, source)
  if isinstance(obj, list):
    return _parse_list_form(obj, source)
  _fail(source, f'top level must be a JSON object (ranges / feasible points) or a list of '
        f'points, got {type(obj).__name__}')


def _check_names(names: Sequence[Any], source: str) -> None:
  """Names become namedtuple fields, so they must be public Python identifiers."""
  if not names:
    _fail(source, 'the search space has no hyperparameters')
  for name in names:
    if (not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name)
        or name.startswith('_')):
      _fail(source, f'hyperparameter name {name!r} must be a Python identifier not '
            'starting with "_" (it becomes an attribute of the hyperparameters object)')


# AlgoPerf's hyperparameters that are rates or factors: a negative value is a typo (and
# a zero learning rate trains nothing).
_POSITIVE = frozenset({'learning_rate'})
_NON_NEGATIVE = frozenset({
    'weight_decay', 'one_minus_beta1', 'beta1', 'beta2', 'warmup_factor', 'label_smoothing',
    'dropout_rate', 'aux_dropout_rate', 'epsilon', 'grad_clip', 'decay_steps_factor',
    'end_factor', 'momentum'})


def _check_scalar(value: Any, where: str, source: str, name: str | None = None) -> None:
  """Values must be JSON scalars so hyperparameter objects stay hashable; a number written
  as a string, or a negative rate, is refused rather than passed to the submission."""
  if not isinstance(value, _SCALAR_TYPES):
    _fail(source, f'{where}: value {value!r} must be a number, string, bool or null')
  if isinstance(value, float) and not math.isfinite(value):
    _fail(source, f'{where}: value {value!r} must be finite')
  if isinstance(value, str) and _parses_as_number(value):
    _fail(source, f'{where}: value {value!r} is a number written as a string; write it '
          f'without quotes ({value.strip()})')
  if isinstance(value, bool) or not isinstance(value, int | float):
    return
  if name in _POSITIVE and value <= 0:
    _fail(source, f'{where}: {name} must be > 0, got {value!r}')
  if name in _NON_NEGATIVE and value < 0:
    _fail(source, f'{where}: {name} must be >= 0, got {value!r}')


def _parses_as_number(text: str) -> bool:
  try:
    float(text)
  except ValueError:
    return False
  return True


def _parse_dict_form(obj: dict, source: str) -> QuasirandomSpace:
  _check_names(list(obj), source)
  dims = tuple(_parse_dim(name, spec, source) for name, spec in obj.items())
  return QuasirandomSpace(source, tuple(obj), dims)


def _parse_dim(name: str, spec: Any, source: str) -> Range | Choice:
  where = f'hyperparameter {name!r}'
  if not isinstance(spec, dict):
    _fail(source, f'{where}: must be an object with min/max/scaling or feasible_points, '
          f'got {spec!r}')
  keys = set(spec)
  if 'feasible_points' in keys:
    if keys != _CHOICE_KEYS:
      extra = sorted(keys - _CHOICE_KEYS)
      _fail(source, f'{where}: feasible_points cannot be combined with {extra}')
    return _parse_choice(spec['feasible_points'], where, source, name)
  if keys != _RANGE_KEYS:
    unknown, missing = sorted(keys - _RANGE_KEYS), sorted(_RANGE_KEYS - keys)
    _fail(source, f'{where}: a range needs exactly min, max, scaling '
          f'(unknown: {unknown}, missing: {missing})')
  return _parse_range(spec, where, source, name)


def _parse_choice(points: Any, where: str, source: str, name: str) -> Choice:
  if not isinstance(points, list) or not points:
    _fail(source, f'{where}: feasible_points must be a non-empty list, got {points!r}')
  for p in points:
    _check_scalar(p, where, source, name)
  return Choice(tuple(points))


def _parse_range(spec: dict, where: str, source: str, name: str) -> Range:
  low, high, scaling = spec['min'], spec['max'], spec['scaling']
  for key, v in (('min', low), ('max', high)):
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
      _fail(source, f'{where}: {key} must be a finite number, got {v!r}')
    _check_scalar(v, f'{where} {key}', source, name)
  if scaling not in _SCALINGS:
    _fail(source, f'{where}: scaling must be one of {list(_SCALINGS)}, got {scaling!r}')
  if low > high:
    _fail(source, f'{where}: min ({low}) must not exceed max ({high})')
  if scaling == 'log' and low <= 0:
    _fail(source, f'{where}: log scaling needs min > 0, got min={low}')
  return Range(float(low), float(high), scaling)


def _parse_list_form(obj: list, source: str) -> FixedSpace:
  if not obj:
    _fail(source, 'a list search space must hold at least one point')
  if not all(isinstance(p, dict) for p in obj):
    _fail(source, 'every entry of a list search space must be an object of name: value')
  names = tuple(obj[0])
  _check_names(names, source)
  for i, point in enumerate(obj):
    if set(point) != set(names):
      _fail(source, f'point {i} has keys {sorted(point)} but point 0 has {sorted(names)}; '
            'all points must name the same hyperparameters')
    for name in names:
      _check_scalar(point[name], f'point {i}, hyperparameter {name!r}', source, name)
  return FixedSpace(source, names, tuple(tuple(p[n] for n in names) for p in obj))


# --- Hyperparameter objects ---------------------------------------------------------------


class _MissingNameError:
  """Mixin of the hyperparameters type: reading a name the search space lacks says which
  file to fix, instead of a bare AttributeError deep inside a jitted step."""

  __slots__ = ()
  _source: str | None = None

  def __getattr__(self, name: str) -> Any:
    if name.startswith('_'):  # copy/pickle probes (`__deepcopy__`, ...) stay silent
      raise AttributeError(name)
    where = f' {self._source}' if self._source else ''
    raise AttributeError(f'hyperparameter {name!r} is not in the search space{where} '
                         f'(it has: {", ".join(self._fields) or "nothing"})')

  def __reduce__(self):
    """Rebuilt by name, since the type is made at run time and pickle cannot find it."""
    return hparams_from_dict, (self._asdict(), self._source)


def hyperparameters_type(names: Sequence[str], source: str | None = None) -> type:
  """The namedtuple type AlgoPerf submissions receive (attribute access, `_asdict`);
  `source`, the search space file, is named when a submission reads a missing name."""
  base = collections.namedtuple('Hyperparameters', list(names))
  return type('Hyperparameters', (_MissingNameError, base),
              {'__slots__': (), '_source': source, '__module__': __name__})


def hparams_to_dict(hparams: Any) -> dict[str, Any]:
  """Plain dict for hparams.json, in field order."""
  return dict(hparams._asdict())


def hparams_from_dict(values: Mapping[str, Any], source: str | None = None) -> Any:
  """Rebuilds the hyperparameters object from hparams.json, as AlgoPerf does on resume."""
  return hyperparameters_type(list(values), source)(**values)


# --- Quasirandom pool -------------------------------------------------------------------


def _value(dim: Range | Choice, u: float) -> Any:
  """Maps a uniform coordinate in [0, 1) to a hyperparameter value."""
  if isinstance(dim, Choice):
    return dim.points[min(int(u * len(dim.points)), len(dim.points) - 1)]
  if dim.scaling == 'log':
    log_low, log_high = math.log(dim.low), math.log(dim.high)
    value = math.exp(log_low + u * (log_high - log_low))
  else:
    value = dim.low + u * (dim.high - dim.low)
  return min(max(value, dim.low), dim.high)  # Guards against rounding past the bounds.


def pool_points(space: QuasirandomSpace, start: int, stop: int, pool_seed: int) -> list[dict]:
  """Rows [start, stop) of the space's seeded scrambled Halton pool, as name -> value."""
  if not 0 <= start <= stop:
    raise ValueError(f'pool rows [{start}, {stop}) are not a valid range')
  column = {name: j for j, name in enumerate(sorted(space.names))}
  sampler = qmc.Halton(d=len(column), scramble=True, rng=pool_seed)
  sampler.fast_forward(start)
  rows = sampler.random(stop - start).tolist()
  named = list(zip(space.names, space.dims, strict=True))
  return [{name: _value(dim, row[column[name]]) for name, dim in named} for row in rows]


def study_points(space: SearchSpace, num_trials: int, study_index: int,
                 pool_seed: int) -> list[Any]:
  """Hyperparameters for trials 0..num_trials-1 of one study."""
  make = hyperparameters_type(space.names, space.source)
  if isinstance(space, FixedSpace):
    if num_trials > len(space.points):
      raise SearchSpaceError(
          f'{space.source}: {num_trials} trials requested but the fixed list holds only '
          f'{len(space.points)} point(s)')
    return [make(*p) for p in space.points[:num_trials]]
  start = study_index * num_trials
  return [make(**p) for p in pool_points(space, start, start + num_trials, pool_seed)]


# --- Seeds ------------------------------------------------------------------------------


def _check_seed(value: int, what: str) -> None:
  if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
    raise ValueError(f'{what} must be a non-negative int, got {value!r}')


def _derive(entropy: int, spawn_key: tuple[int, ...]) -> int:
  """One 31-bit int from a SeedSequence child; same inputs, same seed, any process."""
  state = np.random.SeedSequence(int(entropy), spawn_key=spawn_key).generate_state(1)
  return int(state[0]) % _MAX_SEED


def random_base_seed() -> int:
  """A fresh base seed from OS entropy, for runs where the user gave none (record it)."""
  return int(np.random.SeedSequence().generate_state(1)[0]) % _MAX_SEED


def study_seed(base_seed: int, study_index: int) -> int:
  """Seed of study `study_index` (0-based) under `base_seed`."""
  _check_seed(base_seed, 'base_seed')
  _check_seed(study_index, 'study_index')
  return _derive(base_seed, (_STUDY_DOMAIN, int(study_index)))


def trial_seed(study_seed_value: int, trial_index: int) -> int:
  """Seed of trial `trial_index` (1-based, as in TrialPlan) within a study."""
  _check_seed(study_seed_value, 'study_seed')
  _check_seed(trial_index, 'trial_index')
  return _derive(study_seed_value, (int(trial_index),))


def default_pool_seed(base_seed: int) -> int:
  """Pool seed used when none is given: fixed by the base seed, shared by all studies."""
  _check_seed(base_seed, 'base_seed')
  return _derive(base_seed, (_POOL_DOMAIN,))


# --- Planning ---------------------------------------------------------------------------


def budget_factor(ruleset: str) -> float:
  """Multiplier on the workload's time budget under `ruleset`."""
  _check_ruleset(ruleset)
  return SELF_TUNING_BUDGET_FACTOR if ruleset == 'self' else EXTERNAL_BUDGET_FACTOR


def _check_ruleset(ruleset: str) -> None:
  if ruleset not in RULESETS:
    raise ValueError(f'tuning ruleset must be one of {list(RULESETS)}, got {ruleset!r}')


def _trial_range(num_trials: int, start: int | None, end: int | None) -> range:
  """0-based trial indices this process runs; [start, end) as AlgoPerf's hparam flags."""
  lo = 0 if start is None else start
  hi = num_trials if end is None else end
  if not 0 <= lo < hi <= num_trials:
    raise ValueError(
        f'hparam slice [{start}, {end}) must satisfy 0 <= start < end <= num_trials '
        f'({num_trials})')
  return range(lo, hi)


def plan_study(ruleset: str, search_space_path: str | os.PathLike | None, num_trials: int,
               study_index: int, base_seed: int, start_index: int | None = None,
               end_index: int | None = None, pool_seed: int | None = None,
               shared_seed: bool = False) -> list[TrialPlan]:
  """The trials one process runs for one study, each with its seed and hyperparameters.

  `shared_seed`: every trial gets trial 1's seed (same initialisation, data order and
  keys), for comparisons of points where nothing but the point may differ (a diagnosis's
  learning-rate sweep).
  """
  _check_ruleset(ruleset)
  if isinstance(num_trials, bool) or not isinstance(num_trials, int) or num_trials < 1:
    raise ValueError(f'num_trials must be an int >= 1, got {num_trials!r}')
  seed = study_seed(base_seed, study_index)
  if ruleset == 'self':
    return _plan_self(search_space_path, num_trials, study_index, seed, start_index,
                      end_index)
  if search_space_path is None:
    raise ValueError('the external tuning ruleset needs a search space JSON file')
  space = load_search_space(search_space_path)
  indices = _trial_range(num_trials, start_index, end_index)
  pool_seed = default_pool_seed(base_seed) if pool_seed is None else pool_seed
  _check_seed(pool_seed, 'pool_seed')
  hparams = study_points(space, num_trials, study_index, pool_seed)
  return [TrialPlan(study_index, i + 1, trial_seed(seed, 1 if shared_seed else i + 1),
                    hparams[i]) for i in indices]


def _plan_self(search_space_path: str | os.PathLike | None, num_trials: int, study_index: int,
               seed: int, start_index: int | None, end_index: int | None) -> list[TrialPlan]:
  """Self-tuning: one trial without hyperparameters; stray tuning inputs are ignored."""
  if search_space_path is not None:
    warnings.warn(f'self-tuning ruleset ignores the search space {search_space_path}',
                  stacklevel=3)
  if num_trials != 1:
    warnings.warn(f'self-tuning ruleset runs one trial; ignoring num_trials={num_trials}',
                  stacklevel=3)
  indices = _trial_range(1, start_index, end_index)
  return [TrialPlan(study_index, i + 1, trial_seed(seed, i + 1), None) for i in indices]
