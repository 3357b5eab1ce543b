"""Unit tests of the fingerprints a run's cache and "nothing new" check are keyed by."""
import sys

from recfusion import fingerprints


def test_code_fingerprint_follows_the_code_and_ignores_tests(tmp_path, monkeypatch):
  package = tmp_path / 'shop_code'
  package.mkdir()
  (package / '__init__.py').write_text('')
  (package / 'model.py').write_text('WIDTH = 1\n')
  (package / 'model_test.py').write_text('')
  monkeypatch.syspath_prepend(str(tmp_path))
  monkeypatch.setattr(fingerprints, 'CODE_PACKAGES', ('shop_code',))
  first = fingerprints.code_fingerprint()
  (package / 'model_test.py').write_text('assert True\n')
  assert fingerprints.code_fingerprint() == first
  (package / 'model.py').write_text('WIDTH = 2\n')
  assert fingerprints.code_fingerprint() != first
  sys.modules.pop('shop_code', None)
