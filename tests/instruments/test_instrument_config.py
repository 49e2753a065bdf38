"""Quantity names and sets (Cockpit's memberships) and tracking schedules."""

from __future__ import annotations

import pytest

from algoperf import instruments
from algoperf.instruments import quantities

# cockpit/utils/configuration.py
COCKPIT_ECONOMY = {'Alpha', 'Distance', 'GradHist1d', 'GradNorm', 'InnerTest', 'Loss',
                   'NormTest', 'OrthoTest', 'UpdateSize'}
COCKPIT_BUSINESS = COCKPIT_ECONOMY | {'TICDiag', 'HessTrace'}
COCKPIT_FULL = COCKPIT_BUSINESS | {'HessMaxEV', 'GradHist2d'}


@pytest.mark.parametrize('label,cockpit', [('economy', COCKPIT_ECONOMY),
                                           ('business', COCKPIT_BUSINESS),
                                           ('full', COCKPIT_FULL)])
def test_sets_have_cockpits_memberships(label, cockpit):
  names = instruments.resolve(label)
  assert {quantities.QUANTITIES[n].cockpit for n in names} == cockpit
  assert len(names) == len(cockpit)


def test_resolve_lists_aliases_order_and_duplicates():
  assert instruments.resolve('alpha,loss,grad_norm') == ('loss', 'grad_norm', 'alpha')
  assert instruments.resolve('TICDiag, GradHist1d,hessmaxev') == (
      'grad_hist_1d', 'hess_max_ev', 'tic_diag')
  assert instruments.resolve('economy,loss,cabs') == instruments.resolve('economy') + ('cabs',)
  assert instruments.resolve(['Economy']) == instruments.resolve('economy')
  every = ','.join(quantities.QUANTITIES)
  assert instruments.resolve(every) == tuple(quantities.QUANTITIES)


@pytest.mark.parametrize('spec', ['loss,gradnrm', 'premium', '', 'loss,,alpha'])
def test_resolve_unknown_or_empty_names_the_flag_and_valid_names(spec):
  with pytest.raises(ValueError) as e:
    instruments.resolve(spec)
  message = str(e.value)
  assert message.startswith('--instruments')
  assert 'economy, business, full' in message and 'hess_max_ev' in message


def test_resolve_custom_flag_name():
  with pytest.raises(ValueError, match='^--my_flag: unknown quantity or set'):
    instruments.resolve('nope', flag='--my_flag')


def test_every_quantity_has_a_definition_and_cockpit_source():
  for name, q in quantities.QUANTITIES.items():
    assert q.source.startswith('cockpit/quantities/') and q.source.endswith('.py'), name
    assert len(q.definition) > 40, name
  assert set(instruments.definitions()) == set(quantities.QUANTITIES)


# --- schedules --------------------------------------------------------------------------


def test_linear_schedule_is_cockpits_linear():
  every4 = instruments.parse_schedule('linear:4')
  assert [s for s in range(20) if every4(s)] == [0, 4, 8, 12, 16]
  assert every4.steps(13) == [0, 4, 8, 12]
  offset = instruments.parse_schedule('linear:5:3')
  assert [s for s in range(20) if offset(s)] == [3, 8, 13, 18]
  assert offset.spec == 'linear:5:3'
  every4.check(1)
  assert instruments.parse_schedule('linear:1').steps(3) == [0, 1, 2]


def test_logarithmic_schedule_is_cockpits_logarithmic():
  log = instruments.parse_schedule('logarithmic:0:2:3')
  # torch.logspace(0, 2, 3, dtype=int) = [1, 10, 100], plus step 0 (init=True)
  assert log.steps(1000) == [0, 1, 10, 100]
  assert log(100) and not log(99) and log(0)
  default = instruments.parse_schedule('logarithmic:0:3')
  assert default.num == 300 and default.base == 10
  assert default.steps(10**4)[-1] == 1000 and len(default.steps(10**4)) < 300
  base2 = instruments.parse_schedule('logarithmic:0:4:5:2')
  assert base2.steps(100) == [0, 1, 2, 4, 8, 16]


@pytest.mark.parametrize('text', ['weekly:3', 'linear', 'linear:0', 'linear:x', 'linear:2.5',
                                  'linear:1:-1', 'linear:1:2:3', 'logarithmic:3:1',
                                  'logarithmic:0', 'logarithmic:0:2:0', 'logarithmic:0:2:5:1',
                                  ''])
def test_bad_schedules_name_the_flag(text):
  with pytest.raises(ValueError, match='^--instruments_schedule'):
    instruments.parse_schedule(text)


def test_schedule_that_tracks_no_step_of_the_run_is_an_error():
  late = instruments.parse_schedule('linear:10:50')
  late.check(51)
  with pytest.raises(ValueError, match=r'^--instruments_schedule=linear:10:50 tracks no step'):
    late.check(50)
  log = instruments.parse_schedule('logarithmic:3:4:5')
  log.check(1)  # step 0 is always tracked (Cockpit's init=True)
  late.check(None)  # unknown length: nothing to check
  with pytest.raises(ValueError, match='^--sched'):
    instruments.parse_schedule('linear:3:7', flag='--sched').check(5)
