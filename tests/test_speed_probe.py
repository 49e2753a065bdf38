"""The machine probe and the speed comparison: a fake, slowed-down step on a fake clock is
detected as slower than the baselines' machine, said so with its factor, normalised, and the
re-recording command is offered; a noisy probe is flagged. No test asserts real speed."""

import json
import os

import pytest

from algoperf import speed_compare, speed_probe
from algoperf.scoring import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE_RATE = {'mnist1d': 1500.0, 'noisy_quadratic': 3000.0}


class FakeClock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def fake_step_factory(clock, slowdown=1.0, jitter=(1.0,)):
  """Steps that take slowdown / BASELINE_RATE seconds of fake time, times a jitter that
  moves with the fake time, so successive repeats see different speeds (a busy machine)."""

  class FakeStep:
    batch_size, setup_sec, compile_sec = 128, 0.5, 1.0

    def __init__(self, name, data_dir):
      self.name = name

    def run(self, n):
      self.dt = slowdown / BASELINE_RATE[self.name] * jitter[int(clock.now // 2) % len(jitter)]
      clock.now += n * self.dt

    def evaluate(self):
      return 0.25

  return FakeStep


def _probe(slowdown=1.0, jitter=(1.0,), repeats=3):
  clock = FakeClock()
  return speed_probe.probe(list(BASELINE_RATE), seconds=1.0, repeats=repeats, clock=clock,
                           make_step=fake_step_factory(clock, slowdown, jitter))


@pytest.fixture
def baselines(tmp_path):
  """A stored-baselines folder whose algorithms lack a probe; a labelled reference probe."""
  folder = tmp_path / 'lite_v1'
  (folder / 'runs').mkdir(parents=True)
  (folder / 'manifest.json').write_text(json.dumps({
      'algorithms': {'nadamw': {}, 'adam': {}},
      'probes': {'missing': ['adam', 'nadamw'], 'reference': 'reference_probe.json'}}))
  reference = _probe()
  reference['note'] = 'probed on 2025-01-01 on vm (a machine of the same kind)'
  (folder / 'reference_probe.json').write_text(json.dumps(reference))
  return folder / 'runs'


def test_probe_measures_steps_per_second_and_records_the_machine():
  result = _probe(slowdown=2.0)
  for name, rate in BASELINE_RATE.items():
    w = result['workloads'][name]
    assert w['steps_per_sec'] == pytest.approx(rate / 2, rel=1e-6)
    assert len(w['repeats_steps_per_sec']) == 3 and not w['unstable']
    assert (w['batch_size'], w['compile_sec'], w['eval_sec']) == (128, 1.0, 0.25)
  assert result['cpu_count'] == os.cpu_count() and len(result['load_average_before']) == 3
  assert 'UNSTABLE' not in '\n'.join(speed_probe.table_lines(result))


def test_a_noisy_probe_is_flagged_unstable():
  result = _probe(jitter=(1.0, 1.6))
  w = result['workloads']['mnist1d']
  assert w['spread'] > speed_probe.UNSTABLE_SPREAD and w['unstable']
  assert 'UNSTABLE (spread > 10%)' in '\n'.join(speed_probe.table_lines(result))


def test_a_workload_that_cannot_be_set_up_is_reported_not_raised():
  def make_step(name, data_dir):
    raise FileNotFoundError('no data here')
  result = speed_probe.probe(['mnist1d'], make_step=make_step, clock=FakeClock())
  assert result['workloads']['mnist1d'] == {'error': 'FileNotFoundError: no data here'}
  assert 'not probed: FileNotFoundError' in '\n'.join(speed_probe.table_lines(result))


def test_a_slower_machine_is_said_to_be_slower_with_its_factor(baselines):
  reference = speed_compare.load_reference(os.fspath(baselines))
  assert reference.lacking == ['adam', 'nadamw']
  title, lines = speed_compare.speed_notice(
      _probe(slowdown=2.8), reference, list(BASELINE_RATE), ['nadamw'], 'here',
      {'mnist1d': 600.0, 'noisy_quadratic': 300.0})
  out = speed_compare.text((title, lines))
  assert 'NOT like-for-like' in title
  assert ('mnist1d: this machine is 2.80x slower than the one that recorded the baselines '
          '(536 vs 1500 steps/s): your times are not comparable with theirs') in out
  assert 'Compared with: probed on 2025-01-01 on vm (a machine of the same kind)' in out
  assert 'without a probe of their own recording machine: adam, nadamw' in out
  assert '--normalize_times' in out
  # The re-recording command, with the estimate over the off workloads (600 + 300 s).
  assert 'in one command (estimate: ~15 min)' in out
  assert ('python baselines/regenerate.py --algorithms=nadamw '
          '--workloads=mnist1d,noisy_quadratic --output_dir=here') in out


def _add_probed(baselines, **slowdowns):
  """Store each named algorithm with its own probe of a machine `slowdown` times slower."""
  path = baselines.parent / 'manifest.json'
  manifest = json.loads(path.read_text())
  for name, slowdown in slowdowns.items():
    manifest['algorithms'][name] = {'probe': _probe(slowdown=slowdown)}
  path.write_text(json.dumps(manifest))


def test_baselines_recorded_on_another_machine_are_named_with_their_factors(baselines):
  """The core baseline (NAdamW) has no probe, so the reference stays its machine's; SWA's
  probe says a machine 2x slower: named, with its factors, and this run's machine is compared
  with SWA's too. SAM's machine, 1.1x slower, is within tolerance: the same machine."""
  _add_probed(baselines, swa=2.0, sam=1.1)
  reference = speed_compare.load_reference(os.fspath(baselines))
  assert reference.rates['mnist1d'] == pytest.approx(1500.0)  # not the median with SWA's
  assert reference.source['mnist1d'] == 'reference'
  assert list(speed_compare.other_machines(reference)) == ['swa']
  title, lines = speed_compare.other_machines_notice(reference, _probe(slowdown=2.0))
  out = '\n'.join(lines)
  assert 'more than one machine: swa' in title
  assert ("swa, against the core baseline's (nadamw) machine: mnist1d 2.00x slower, "
          'noisy_quadratic 2.00x slower') in out
  assert ("This machine against swa's: mnist1d 1.00x slower, noisy_quadratic 1.00x slower "
          '(within tolerance: like-for-like with it)') in out
  _, lines = speed_compare.other_machines_notice(reference, _probe(2.0, jitter=(1.0, 1.6)))
  (line,) = [line for line in lines if line.startswith("This machine against swa's")]
  assert '(unstable probe)' in line and 'like-for-like' not in line
  # In the suite's notices, after the speed check, on the terminal and the HTML page alike.
  notices = speed_compare.suite_notices(_probe(), os.fspath(baselines), ['mnist1d'],
                                        {'mnist1d': 60.0}, 1, 'mine')
  assert [n[0].split(':')[0] for n in notices] == [
      'Machine speed', 'Stored baselines from more than one machine']


def test_baselines_from_one_machine_say_nothing_more(baselines):
  _add_probed(baselines, swa=1.0)
  reference = speed_compare.load_reference(os.fspath(baselines))
  assert speed_compare.other_machines_notice(reference) is None


def test_without_a_core_baseline_the_reference_is_the_median_of_the_probes(tmp_path):
  (tmp_path / 'runs').mkdir()
  (tmp_path / 'manifest.json').write_text(json.dumps({'algorithms': {
      name: {'probe': _probe(slowdown=s)} for name, s in (('a', 1.0), ('b', 2.0), ('c', 4.0))}}))
  reference = speed_compare.load_reference(os.fspath(tmp_path / 'runs'))
  assert reference.rates['mnist1d'] == pytest.approx(750.0)
  assert reference.source['mnist1d'] == 'baselines'
  assert list(speed_compare.other_machines(reference)) == ['a', 'c']


def test_the_like_for_like_command_scores_the_run_against_the_re_recorded_baselines():
  """The notice's one command: regenerate.py with --score_run re-records, then scores the
  user's suite run against the baselines it just recorded."""
  title, lines = speed_compare.speed_notice(
      _probe(slowdown=2.8), speed_compare.Reference({'mnist1d': 1500.0}, set(),
                                                     {'mnist1d': 'logs'}),
      ['mnist1d'], ['nadamw'], 'exp/baselines_here', {'mnist1d': 60.0}, score_run='exp')
  assert ('python baselines/regenerate.py --algorithms=nadamw --workloads=mnist1d '
          '--output_dir=exp/baselines_here --score_run=exp') in '\n'.join(lines)
  assert 'exp/leaderboard_like_for_like/' in '\n'.join(lines)


def test_the_html_leaderboard_shows_the_notice_in_a_box_at_the_top(baselines):
  reference = speed_compare.load_reference(os.fspath(baselines))
  notice = speed_compare.speed_notice(_probe(slowdown=2.8), reference, ['mnist1d'])
  box = report._notice_boxes([notice])
  assert 'class="notice"' in box and 'NOT like-for-like' in box
  assert 'mnist1d: this machine is 2.80x slower' in box


def test_within_tolerance_is_comparable_and_faster_is_said_too(baselines):
  reference = speed_compare.load_reference(os.fspath(baselines))
  title, lines = speed_compare.speed_notice(_probe(slowdown=1.1), reference, ['mnist1d'])
  assert title.startswith('Machine speed: within 20%') and 'within tolerance' in lines[0]
  title, lines = speed_compare.speed_notice(_probe(slowdown=0.5), reference, ['mnist1d'])
  assert 'NOT like-for-like' in title and '2.00x faster' in lines[0]


def test_an_unstable_probe_is_never_counted_as_comparable(baselines):
  reference = speed_compare.load_reference(os.fspath(baselines))
  title, lines = speed_compare.speed_notice(_probe(jitter=(1.0, 1.6)), reference, ['mnist1d'])
  assert 'NOT like-for-like' in title and 'UNSTABLE probe' in lines[0]
  assert any('python probe_machine.py --workloads=mnist1d' in line for line in lines)


def test_no_probe_or_no_reference_is_said_too():
  assert 'NOT MEASURED' in speed_compare.speed_notice(None, None, ['mnist1d'])[0]
  assert 'carry no probe' in speed_compare.speed_notice(_probe(), None, ['mnist1d'])[0]


def test_normalised_times_scale_by_the_factor_in_their_own_section():
  factors = [speed_compare.Factor('mnist1d', 500.0, 1500.0),
             speed_compare.Factor('noisy_quadratic', 1000.0, 1000.0)]
  title, lines = speed_compare.normalised_notice(
      factors, {'mnist1d': 60.0, 'noisy_quadratic': None})
  assert 'APPROXIMATION' in title
  assert lines[1].split() == ['mnist1d', '60.0', 's', '3.00', '20.0', 's']
  assert lines[2].split() == ['noisy_quadratic', '—', '1.00', '—']


def test_wall_estimate_learns_from_finished_workloads():
  per_trial = {'a': speed_compare.trial_estimate(
      {'setup_sec': 2.0, 'compile_sec': 1.0, 'eval_sec': 0.5}, 90.0, 5.0), 'b': 100.0}
  assert per_trial['a'] == pytest.approx(90 + 3 + 0.5 * 20)
  estimator = speed_compare.WallEstimator(per_trial, trials=2)
  assert estimator.describe(['a', 'b']).startswith('estimate: at most ~6m46s left')
  estimator.finished('a', 103.0)  # half of what was planned for its two trials
  assert estimator.left(['b']) == pytest.approx(100.0)
  assert 'from the wall time of the finished workloads' in estimator.describe(['b'])


def test_the_stored_manifest_says_which_baselines_lack_a_probe():
  folder = os.path.join(ROOT, 'baselines', 'lite_v1')
  with open(os.path.join(folder, 'manifest.json')) as f:
    manifest = json.load(f)
  for name, entry in manifest['algorithms'].items():
    if 'probe' not in entry:
      assert name in manifest['probes']['missing'], name
  assert 'stored NAdamW logs' in manifest['probes']['note']


def test_a_real_probe_of_one_cheap_workload():
  result = speed_probe.probe(['noisy_quadratic'], seconds=0.2, repeats=2)
  w = result['workloads']['noisy_quadratic']
  assert w['steps_per_sec'] > 0 and len(w['repeats_steps_per_sec']) == 2
  assert w['batch_size'] == 128 and w['eval_sec'] > 0


def test_the_stored_baselines_are_compared_by_their_recording_machines_own_step_rate():
  """Every lite_v1 workload has a reference from the stored NAdamW logs (trial 1, first to
  last eval), and a probe a quarter of that speed is said to be 4x slower."""
  import csv
  baselines = os.path.join(ROOT, 'baselines', 'lite_v1', 'runs')
  reference = speed_compare.load_reference(baselines)
  assert set(reference.rates) >= {'mnist1d', 'char_lm', 'noisy_quadratic_illcond'}
  assert {reference.source[w] for w in reference.rates} == {'logs'}
  path = os.path.join(baselines, 'nadamw', 'lite_v1', 'study_0', 'mnist1d_jax', 'trial_1',
                      'eval_measurements.csv')
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  expected = ((int(rows[-1]['global_step']) - int(rows[0]['global_step']))
              / (float(rows[-1]['accumulated_submission_time'])
                 - float(rows[0]['accumulated_submission_time'])))
  assert reference.rates['mnist1d'] == pytest.approx(expected)
  probe = {'workloads': {'mnist1d': {'steps_per_sec': expected / 4}}}
  title, lines = speed_compare.speed_notice(probe, reference, ['mnist1d'])
  assert 'NOT like-for-like' in title
  assert '4.00x slower' in lines[0] and 'stored nadamw logs' in '\n'.join(lines)


def test_each_trials_meta_data_records_the_machines_load():
  from algoperf import logs
  facts = logs.meta_data(workload='toy')
  assert len(facts['load_average']) == 3 and facts['cpu_count'] >= 1
