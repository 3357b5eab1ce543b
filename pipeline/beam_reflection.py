"""Beam's reflection on a DoFn done once per DoFn instead of about nine times.

To find out whether a DoFn uses state or timers, Beam's `userstate.get_dofn_specs` inspects
the signature of every method the DoFn has (~30, `inspect.signature` each), and Beam asks it
again at each turn of building and running a pipeline: ParDo's constructor, the DirectRunner's
visit, the portable proto (twice), the keyed-input check, then twice more on the copy each
bundle processor unpickles. The Evaluator's pipeline asked 1,765 times about its ~200 ParDos
(0.80 s of a 10x re-run), StatisticsGen's 1,629 times (0.74 s).

While `dofn_specs_remembered` is open, the answer for a DoFn object is kept and given again for
the same object. The answer depends only on the DoFn's methods and their signatures, which
nothing changes between Beam's questions. DoFns are told apart by identity (not by their own
`==`) and held weakly: one that is dropped is not kept alive, and its answer goes with it, so a
later DoFn at the same address is asked afresh. Each caller gets its own copies of the two
sets. Only under the Beam this was written against (library_patches). Beam's bundle-based
DirectRunner (streaming) imports the function by name: if it is first imported while this is
open it keeps the remembering one, which is harmless (the DoFns are held weakly).
"""
import weakref
from typing import Any, Callable, Dict, Set, Tuple

import apache_beam as beam
from apache_beam.transforms import userstate

from recfusion import library_patches

BEAM_VERSION = '2.59.'
Specs = Tuple[Set[Any], Set[Any]]


def remembering(get_dofn_specs: Callable[[Any], Specs]) -> Callable[[Any], Specs]:
  """`get_dofn_specs` asked once per DoFn object, told apart by identity (a DoFn that cannot
  be weakly referenced is asked every time)."""
  answers: Dict[int, Tuple['weakref.ref', Specs]] = {}

  def forget(key: int, ref: 'weakref.ref') -> None:
    if key in answers and answers[key][0] is ref:
      del answers[key]

  def remembered(dofn) -> Specs:
    key = id(dofn)
    known = answers.get(key)
    if known is not None and known[0]() is dofn:
      state_specs, timer_specs = known[1]
    else:
      state_specs, timer_specs = specs = get_dofn_specs(dofn)
      try:
        ref = weakref.ref(dofn, lambda dead, key=key: forget(key, dead))
      except TypeError:
        return specs
      answers[key] = (ref, specs)
    return set(state_specs), set(timer_specs)

  return remembered


def dofn_specs_remembered(beam_version: str = beam.__version__):
  """While open, Beam's state-and-timer reflection answers each DoFn object once."""
  return library_patches.swapped(
      'Apache Beam', beam_version, BEAM_VERSION,
      'each Beam step inspects its DoFns ~9 times over, ~0.8 s a step at 10x; '
      'pipeline/beam_reflection.py',
      (userstate, 'get_dofn_specs', remembering(userstate.get_dofn_specs)))
