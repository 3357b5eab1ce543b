"""Pseudonymous user ids: a keyed hash replaces every user id as the data is read.

With `data.pseudonymize_user_ids` set, LogJoinExampleGen (and `predict`, which looks users up
the same way) replaces each user id by HMAC-SHA256 under a secret key, so examples, models,
statistics, reports and logs hold only pseudonyms: a person's requests still share one id
(histories and segments join as before), but the id cannot be turned back into the shop's
without the key. The key comes from an environment variable or a file (a mounted Kubernetes
secret); the config holds only where it is, and the key itself is never logged or written.
The same key gives the same pseudonyms on every run, so histories stay joined across spans;
rotating it starts every user afresh.
"""
import hashlib
import hmac
import os
from typing import Callable, Optional

import pandas as pd

from recfusion.config import ConfigError

PREFIX = 'p_'
HEX_DIGITS = 32  # 128 bits: collisions are out of reach for any shop's user count
MIN_KEY_BYTES = 16


class PseudonymKeyError(ConfigError):
  """The key cannot be read or is too short; says where it was looked for, never the key."""


def key_from(source: str) -> bytes:
  """`env:NAME` or `file:PATH` (surrounding whitespace and a final newline are not part of a
  key read from a file)."""
  kind, _, where = source.partition(':')
  if kind == 'env':
    value = os.environ.get(where)
    if value is None:
      raise PseudonymKeyError(f'data.pseudonymize_user_ids: environment variable {where} is not set')
    key = value.strip().encode()
  elif kind == 'file':
    try:
      with open(where, 'rb') as f:
        key = f.read().strip()
    except OSError as e:
      raise PseudonymKeyError(f'data.pseudonymize_user_ids: cannot read the key file {where}: '
                      f'{e.strerror}') from None
  else:
    raise PseudonymKeyError(f"data.pseudonymize_user_ids must be 'env:NAME' or 'file:PATH', got "
                    f'{source!r}')
  if len(key) < MIN_KEY_BYTES:
    raise PseudonymKeyError(f'data.pseudonymize_user_ids: the key in {source} has {len(key)} bytes; '
                    f'at least {MIN_KEY_BYTES} are needed')
  return key


def pseudonym(key: bytes, user_id: str) -> str:
  """'' (an anonymous request) stays ''."""
  if not user_id:
    return ''
  digest = hmac.new(key, user_id.encode('utf-8'), hashlib.sha256).hexdigest()
  return PREFIX + digest[:HEX_DIGITS]


def pseudonymizer(source: Optional[str]) -> Optional[Callable[[pd.Series], pd.Series]]:
  """A function replacing a column of user ids, or None when `source` is empty (off)."""
  if not source:
    return None
  return column_pseudonymizer(key_from(source))


def column_pseudonymizer(key: bytes) -> Callable[[pd.Series], pd.Series]:
  """One hash per distinct id, not per row."""

  def replace(user_ids: pd.Series) -> pd.Series:
    unique = user_ids.unique()
    return user_ids.map(dict(zip(unique, (pseudonym(key, u) for u in unique))))

  return replace
