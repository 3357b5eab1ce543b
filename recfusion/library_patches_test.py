"""The version-gated swap: set while open under the written-for version, restored after (an
error included), untouched under another version."""
import types

import pytest

from recfusion import library_patches


def test_set_while_open_and_restored_even_after_an_error():
  owner = types.SimpleNamespace(step='theirs', other=1)
  with pytest.raises(RuntimeError):
    with library_patches.swapped('Lib', '1.16.2', '1.16.', 'slower', (owner, 'step', 'ours'),
                                 (owner, 'other', 2)):
      assert (owner.step, owner.other) == ('ours', 2)
      raise RuntimeError('the step failed')
  assert (owner.step, owner.other) == ('theirs', 1)


def test_another_version_keeps_the_library_s_own_and_warns(caplog):
  owner = types.SimpleNamespace(step='theirs')
  with library_patches.swapped('Lib', '1.17.0', '1.16.', 'two traces more',
                               (owner, 'step', 'ours')):
    assert owner.step == 'theirs'
  assert 'Lib 1.17.0, not 1.16.x' in caplog.text and 'two traces more' in caplog.text
