r"""What does FreezeOut really save? Per-stage step time, and whole trials against baselines.

Part 1, stages: on each workload, FreezeOut's compiled step of every freezing stage (0, 1,
2, ... layer groups frozen), on one batch kept on the device, in alternating rounds (the
stage that goes first rotates); a round times `--steps` steps of each stage, and a stage's
ratio is its time over the unfrozen stage's in the same round, median over `--repeats`
rounds. Each stage's compile time (trace + lower + compile) is printed too: a trial pays
it, billed, at the stage's first step. From the ratios and the schedule's stage lengths it
prints the share of an unfrozen run's training time the schedule needs, without and with
the later stages' compiles (a baseline compiles its one step too). Part 1 compares steps
timed side by side, so it holds up on a busy machine; part 2's times do not.

Part 2, trials: `runner.run_trial` with seed 0 of each arm, to the step hint
(`max_global_steps`; FreezeOut ends itself there), targets not stopping the run, budget
`--budget_factor` × the workload's (so every arm finishes its schedule; a time to target
counts only within the workload's own budget, as the scorer's):
  freezeout         FreezeOut's fixed point 1 (Nesterov base, as in the paper);
  momentum          Momentum's fixed point 1 (the same rate and γ, no freezing);
  nadamw            NAdamW's fixed point `--nadamw_point` (3: the one point of the five that
                    reaches both targets in the stored baselines; point 1 misses char_lm's);
  freezeout_nadamw  that NAdamW point with FreezeOut's knobs: the only difference from the
                    `nadamw` arm is the freezing, so it isolates FreezeOut's effect.
It prints time to the validation target, best validation metric, submission time to the
end of the schedule, and FreezeOut's ratios to its base. The last lines are RESULT lines.

  python benchmarks/freezeout_speed.py          # both parts: 13-21 min on the 2-core VM
  python benchmarks/freezeout_speed.py --quick  # part 1 only, 3 repeats: about 2 min

Most of part 2's wall time is untimed evaluation (fashion_mnist_cnn: 30k images per eval).
"""

import collections
import statistics
import time

import jax
from absl import app, flags

from algoperf import runner, submission, tuning
from reference_algorithms.freezeout import submission as freezeout
from workloads import registry

flags.DEFINE_list('workloads', ['fashion_mnist_cnn', 'char_lm'], 'Workloads to measure.')
flags.DEFINE_integer('steps', 30, 'Steps per stage per round (part 1).')
flags.DEFINE_integer('repeats', 7, 'Alternating rounds per workload (part 1).')
flags.DEFINE_integer('nadamw_point', 3, 'NAdamW fixed point (1-based) of the NAdamW arms.')
flags.DEFINE_float('budget_factor', 2.0, 'Trial budget, times the workload\'s (part 2).')
flags.DEFINE_bool('quick', False, 'Part 1 only, with 3 repeats.')
FLAGS = flags.FLAGS

SEED = 0
PATHS = {name: f'reference_algorithms/{name}' for name in ('freezeout', 'momentum', 'nadamw')}


def fixed_point(algorithm: str, index: int) -> dict:
  space = tuning.load_search_space(f'{PATHS[algorithm]}/tuning_search_space_fixed.json')
  return dict(zip(space.names, space.points[index - 1], strict=True))


def as_hparams(values: dict):
  return collections.namedtuple('Hyperparameters', list(values))(**values)


def arms() -> dict[str, tuple[str, dict]]:
  """arm -> (submission, hyperparameters)."""
  freezeout_point = fixed_point('freezeout', 1)
  knobs = {k: freezeout_point[k] for k in ('t_0', 'freeze_scaling', 'scale_lr')}
  nadamw_point = fixed_point('nadamw', FLAGS.nadamw_point)
  return {
      'freezeout': ('freezeout', freezeout_point),
      'momentum': ('momentum', fixed_point('momentum', 1)),
      'nadamw': ('nadamw', nadamw_point),
      'freezeout_nadamw': ('freezeout', {**nadamw_point, **knobs, 'base_optimizer': 'nadamw'}),
  }


# --- part 1: per-stage step time -------------------------------------------------------

def _copy(tree):
  return jax.tree.map(lambda x: x.copy(), tree)


def time_stages(name: str) -> dict:
  """Median step-time ratio and compile seconds of each freezing stage; schedule share."""
  workload = registry.get_workload(name)
  params, model_state = workload.init_model_fn(jax.random.key(SEED))
  hp = as_hparams(fixed_point('freezeout', 1))
  opt_states, steps = freezeout.init_optimizer_state(workload, params, model_state, hp,
                                                     jax.random.key(1))
  batch = next(workload._build_input_queue(jax.random.key(2), 'train', None,
                                           freezeout.get_batch_size(name)))
  rng = jax.random.key(3)
  compiled, compile_sec, states = {}, {}, {}
  for frozen, stage in steps.stages.items():
    start = time.perf_counter()
    compiled[frozen] = stage.train.lower(params, model_state, opt_states, batch, rng).compile()
    compile_sec[frozen] = time.perf_counter() - start
    states[frozen] = _copy((params, model_state, opt_states))  # each stage donates its own

  def run(frozen: int) -> float:
    state = states[frozen]
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
      state = compiled[frozen](*state, batch, rng)[:3]
    jax.block_until_ready(state)
    states[frozen] = state
    return time.perf_counter() - start

  for frozen in compiled:  # warm-up: first executions allocate
    run(frozen)
  order, ratios, unfrozen = list(compiled), collections.defaultdict(list), []
  for repeat in range(FLAGS.repeats):
    rotated = order[repeat % len(order):] + order[:repeat % len(order)]
    seconds = {frozen: run(frozen) for frozen in rotated}
    unfrozen.append(seconds[0] / FLAGS.steps)
    for frozen in order:
      ratios[frozen].append(seconds[frozen] / seconds[0])
  median = {frozen: statistics.median(values) for frozen, values in ratios.items()}
  schedule = steps.schedule
  bounds = [schedule.stops[k - 1] if k else 0 for k in order] + [schedule.stops[-1]]
  share = sum(median[k] * (bounds[i + 1] - bounds[i]) for i, k in enumerate(order))
  print(f'{name}: unfrozen step {1000 * statistics.median(unfrozen):.1f} ms; the schedule '
        f'needs {share / schedule.stops[-1]:.3f} of the unfrozen time (compiles excluded)')
  for frozen in order:
    print(f'{name}: {frozen} group(s) frozen {list(schedule.groups[:frozen])}: step '
          f'{median[frozen]:.3f} x unfrozen (range {min(ratios[frozen]):.3f}-'
          f'{max(ratios[frozen]):.3f}), compile {compile_sec[frozen]:.2f} s, steps '
          f'{bounds[order.index(frozen)]}-{bounds[order.index(frozen) + 1]}', flush=True)
  unfrozen_time = schedule.stops[-1] * statistics.median(unfrozen)
  # A baseline compiles one step too: FreezeOut's extra cost is the later stages' compiles.
  extra_compiles = sum(sec for frozen, sec in compile_sec.items() if frozen)
  print(f'{name}: with the later stages\' compiles ({extra_compiles:.1f} s) the schedule '
        f'takes {(share * statistics.median(unfrozen) + extra_compiles) / unfrozen_time:.3f}'
        f' of an unfrozen run\'s {unfrozen_time:.1f} s')
  return {'ratio': median, 'compile_sec': compile_sec,
          'schedule_share': share / schedule.stops[-1],
          'with_compiles': (share * statistics.median(unfrozen) + extra_compiles)
          / unfrozen_time}


# --- part 2: trials --------------------------------------------------------------------

def run_arm(name: str, algorithm: str, values: dict) -> runner.TrialResult:
  sub = submission.load_submission(f'{PATHS[algorithm]}/submission.py')
  workload = registry.get_workload(name)
  return runner.run_trial(runner.TrialConfig(
      workload=workload, workload_name=name, submission=sub, hyperparameters=as_hparams(values),
      seed=SEED, global_batch_size=sub.get_batch_size(name),
      eval_batch_size=workload.eval_batch_size,
      budget_sec=FLAGS.budget_factor * workload.max_allowed_runtime_sec,
      max_global_steps=workload.step_hint, show_progress=False, stop_at_targets=False,
      save_checkpoints=False, submission_workload=registry.get_workload(name)))


def summarize(name: str, result: runner.TrialResult) -> dict:
  workload = registry.get_workload(name)
  metric = f'validation/{workload.target_metric_name}'
  values = [r[metric] for _, r in result.eval_results]
  best = max(values) if workload.target_metric_higher_is_better else min(values)
  reached = result.time_to_validation_target
  if reached is not None and reached > workload.max_allowed_runtime_sec:
    reached = None  # past the workload's budget: not a score
  return {'time_to_target': reached, 'best': best, 'end_time': result.submission_time,
          'steps': result.global_step, 'status': result.status,
          'higher_is_better': workload.target_metric_higher_is_better}


def trials(name: str) -> dict:
  out = {}
  for arm, (algorithm, values) in arms().items():
    start = time.perf_counter()
    out[arm] = summary = summarize(name, run_arm(name, algorithm, values))
    reached = summary['time_to_target']
    print(f'{name}: {arm}: target {"not reached" if reached is None else f"at {reached:.1f} s"}'
          f', best validation {summary["best"]:.4f}, {summary["steps"]} steps in '
          f'{summary["end_time"]:.1f} s of submission time ({summary["status"]}; '
          f'{time.perf_counter() - start:.0f} s wall)', flush=True)
  return out


def _relative_loss(freezeout_best: float, base_best: float, higher_is_better: bool) -> float:
  """How much worse FreezeOut's best metric is, relative to its base's (> 0: worse)."""
  if higher_is_better:
    return (base_best - freezeout_best) / base_best
  return (freezeout_best - base_best) / base_best


def main(argv):
  del argv
  if FLAGS.quick:
    FLAGS.repeats = 3
  start = time.perf_counter()
  lines = []
  for name in FLAGS.workloads:
    stages = time_stages(name)
    for frozen, ratio in stages['ratio'].items():
      lines.append(f'RESULT freezeout_stage_step_ratio {name} frozen={frozen} {ratio:.3f}')
      lines.append(f'RESULT freezeout_stage_compile_sec {name} frozen={frozen} '
                   f'{stages["compile_sec"][frozen]:.2f}')
    lines.append(f'RESULT freezeout_schedule_time_share {name} {stages["schedule_share"]:.3f}')
    lines.append(f'RESULT freezeout_schedule_time_share_with_compiles {name} '
                 f'{stages["with_compiles"]:.3f}')
    if FLAGS.quick:
      continue
    results = trials(name)
    for arm, summary in results.items():
      reached = summary['time_to_target']
      lines.append(f'RESULT time_to_target {name} {arm} '
                   f'{"none" if reached is None else f"{reached:.1f}"}')
      lines.append(f'RESULT best_validation {name} {arm} {summary["best"]:.4f}')
    for arm, base in (('freezeout', 'momentum'), ('freezeout_nadamw', 'nadamw')):
      fo, ref = results[arm], results[base]
      lines.append(f'RESULT schedule_time_ratio {name} {arm}/{base} '
                   f'{fo["end_time"] / ref["end_time"]:.3f}')
      lines.append(f'RESULT relative_metric_loss {name} {arm}/{base} '
                   f'{_relative_loss(fo["best"], ref["best"], fo["higher_is_better"]):+.4f}')
  print('\n'.join(lines))
  print(f'RESULT wall_minutes {(time.perf_counter() - start) / 60:.1f}')


if __name__ == '__main__':
  app.run(main)
