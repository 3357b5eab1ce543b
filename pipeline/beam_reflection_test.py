"""Beam's DoFn reflection remembered per DoFn object: asked once per object, answers that
callers cannot spoil, Beam's own checks unchanged, Beam's function back afterwards."""
import gc

import apache_beam as beam
import pytest
from apache_beam.coders import StrUtf8Coder
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate

from recfusion.pipeline import beam_reflection


class _Plain(beam.DoFn):
  def process(self, element):
    yield element


class _Counting(beam.DoFn):
  SEEN = userstate.BagStateSpec('seen', StrUtf8Coder())

  def process(self, element, seen=beam.DoFn.StateParam(SEEN)):
    seen.add(element[1])
    yield element[0], len(list(seen.read()))


def _asked(calls):
  def get_dofn_specs(dofn):
    calls.append(dofn)
    return userstate.get_dofn_specs(dofn)
  return get_dofn_specs


def test_each_dofn_object_is_asked_once_and_others_separately():
  calls = []
  remembered = beam_reflection.remembering(_asked(calls))
  plain, counting = _Plain(), _Counting()
  for _ in range(3):
    assert remembered(plain) == (set(), set())
  assert remembered(counting) == ({_Counting.SEEN}, set())
  assert remembered(_Plain()) == (set(), set())  # equal class, another object: asked
  assert calls == [plain, counting, calls[2]] and calls[2] is not plain


def test_callers_get_copies_that_do_not_change_later_answers():
  remembered = beam_reflection.remembering(userstate.get_dofn_specs)
  counting = _Counting()
  state_specs, _ = remembered(counting)
  state_specs.clear()
  assert remembered(counting) == ({_Counting.SEEN}, set())


def test_a_dropped_dofn_is_not_kept_alive():
  import weakref
  remembered = beam_reflection.remembering(userstate.get_dofn_specs)
  plain = _Plain()
  remembered(plain)
  alive = weakref.ref(plain)
  del plain
  gc.collect()
  assert alive() is None


def test_an_object_that_cannot_be_weakly_referenced_is_asked_every_time():
  class Slotted:
    __slots__ = ()
  calls = []
  remembered = beam_reflection.remembering(lambda dofn: calls.append(dofn) or (set(), set()))
  slotted = Slotted()
  remembered(slotted)
  remembered(slotted)
  assert calls == [slotted, slotted]


def test_while_open_beam_still_finds_state_and_runs_a_stateful_pipeline():
  original = userstate.get_dofn_specs
  with beam_reflection.dofn_specs_remembered():
    assert userstate.get_dofn_specs is not original
    assert userstate.is_stateful_dofn(_Counting()) and not userstate.is_stateful_dofn(_Plain())
    with beam.Pipeline() as pipeline:
      counts = (pipeline | beam.Create([('k', 'a'), ('k', 'b')]) | beam.ParDo(_Counting())
                | beam.ParDo(_Plain()))
      assert_that(counts, equal_to([('k', 1), ('k', 2)]))
  assert userstate.get_dofn_specs is original


def test_duplicate_state_names_are_still_refused():
  class Twice(beam.DoFn):
    FIRST = userstate.BagStateSpec('same', StrUtf8Coder())
    SECOND = userstate.BagStateSpec('same', StrUtf8Coder())

    def process(self, element, a=beam.DoFn.StateParam(FIRST), b=beam.DoFn.StateParam(SECOND)):
      yield element

  with beam_reflection.dofn_specs_remembered():
    with pytest.raises(ValueError, match='same'):
      userstate.validate_stateful_dofn(Twice())


def test_under_another_beam_beams_own_runs():
  original = userstate.get_dofn_specs
  with beam_reflection.dofn_specs_remembered(beam_version='2.60.0'):
    assert userstate.get_dofn_specs is original
