"""Swapping a library's internals for recfusion's own while one step runs, only under the
library version they were written against.

The Evaluator's jackknife (TFMA), Transform's traces (TFX), Beam's DoFn reflection and its
TFRecord reading (pipeline/beam_swaps.py) replace private pieces of a library for the time a
step builds and runs its pipeline. Private pieces change without notice
between releases, so under any other version the library's own code runs, and a warning says
what that costs.
"""
import contextlib
from typing import Any, Iterator, Tuple

from absl import logging


@contextlib.contextmanager
def swapped(library: str, running: str, written_for: str, cost: str,
            *swaps: Tuple[Any, str, Any]) -> Iterator[None]:
  """While open, each (owner, attribute, value) of `swaps` is set, when the `running` version
  of `library` starts with `written_for`; the originals come back on exit. Under another
  version nothing is set and a warning names the `cost`."""
  if not running.startswith(written_for):
    logging.warning('%s %s, not %sx: its own code runs (%s)', library, running, written_for,
                    cost)
    yield
    return
  originals = [(owner, name, getattr(owner, name)) for owner, name, _ in swaps]
  try:
    for owner, name, value in swaps:
      setattr(owner, name, value)
    yield
  finally:
    for owner, name, original in originals:
      setattr(owner, name, original)
