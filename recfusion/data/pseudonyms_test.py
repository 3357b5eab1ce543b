"""Unit tests of the keyed user-id pseudonyms: stable, keyed, and the key is never shown."""
import hashlib
import hmac

import pandas as pd
import pytest

from recfusion.data import pseudonyms

KEY = b'0123456789abcdef-test-key'


def test_a_pseudonym_is_the_truncated_hmac_and_anonymous_stays_empty():
  expected = 'p_' + hmac.new(KEY, b'user-7', hashlib.sha256).hexdigest()[:32]
  assert pseudonyms.pseudonym(KEY, 'user-7') == expected
  assert pseudonyms.pseudonym(KEY, '') == ''
  assert pseudonyms.pseudonym(b'another key of 16+ bytes', 'user-7') != expected


def test_the_key_comes_from_an_environment_variable_or_a_file(tmp_path, monkeypatch):
  monkeypatch.setenv('SHOP_USER_KEY', ' 0123456789abcdef-test-key\n')
  assert pseudonyms.key_from('env:SHOP_USER_KEY') == KEY
  key_file = tmp_path / 'key'
  key_file.write_bytes(KEY + b'\n')
  assert pseudonyms.key_from(f'file:{key_file}') == KEY


@pytest.mark.parametrize('source, message', [
    ('env:NOT_SET_ANYWHERE', 'environment variable NOT_SET_ANYWHERE is not set'),
    ('file:/no/such/key', 'cannot read the key file /no/such/key: No such file or directory'),
    ('vault:x', "must be 'env:NAME' or 'file:PATH', got 'vault:x'"),
])
def test_a_missing_key_is_a_config_error_naming_where_it_was_looked_for(source, message):
  with pytest.raises(pseudonyms.PseudonymKeyError, match=None) as raised:
    pseudonyms.key_from(source)
  assert message in str(raised.value)


def test_a_short_key_is_refused_without_showing_it(monkeypatch):
  monkeypatch.setenv('SHOP_USER_KEY', 'hunter2')
  with pytest.raises(pseudonyms.PseudonymKeyError) as raised:
    pseudonyms.key_from('env:SHOP_USER_KEY')
  assert 'has 7 bytes; at least 16 are needed' in str(raised.value)
  assert 'hunter2' not in str(raised.value)


def test_a_column_is_replaced_consistently_and_off_means_none(monkeypatch):
  monkeypatch.setenv('SHOP_USER_KEY', KEY.decode())
  replace = pseudonyms.pseudonymizer('env:SHOP_USER_KEY')
  out = replace(pd.Series(['u1', 'u2', 'u1', '']))
  assert out[0] == out[2] == pseudonyms.pseudonym(KEY, 'u1') != out[1]
  assert out[3] == ''
  assert pseudonyms.pseudonymizer(None) is None and pseudonyms.pseudonymizer('') is None
