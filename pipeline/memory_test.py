"""Unit tests of handing freed memory back between components."""
import gc
import sys
import weakref

import pytest

from recfusion.pipeline import memory


class _Node:
  pass


def test_release_collects_unreachable_cycles():
  gc.disable()  # so only release_freed can collect the cycle below
  try:
    node = _Node()
    node.itself = node
    ref = weakref.ref(node)
    del node
    assert ref() is not None
    memory.release_freed()
    assert ref() is None
  finally:
    gc.enable()


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc_trim is Linux')
def test_release_trims_the_heap_with_glibc():
  assert memory.release_freed() is True


def test_release_without_malloc_trim_still_collects(monkeypatch):
  monkeypatch.setattr(memory, '_malloc_trim', lambda: None)
  assert memory.release_freed() is False


def test_objects_made_before_are_kept_out_of_collections_until_it_closes():
  gc.disable()
  try:
    before = _Node()
    before.itself = before
    before_ref = weakref.ref(before)
    with memory.preexisting_kept_out_of_collections():
      assert gc.get_freeze_count() > 0
      during = _Node()
      during.itself = during
      during_ref = weakref.ref(during)
      del before, during
      memory.release_freed()
      assert during_ref() is None  # made while open: collected
      assert before_ref() is not None  # made before: left alone
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert before_ref() is None
  finally:
    gc.enable()
