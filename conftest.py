"""Fixtures shared by the unit, component and end-to-end tests."""
import os

import pandas as pd
import pytest

import recfusion  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

SMALL_SHOP = dict(seed=3, num_items=120, num_users=60, num_days=4, requests_per_day=60,
                  impressions_per_request=6, no_impression_share=0.1)


@pytest.fixture(scope='session')
def small_shop_dir(tmp_path_factory):
  """A small simulated shop (4 spans, 240 requests) shared read-only by many tests."""
  from recfusion.data import simulator
  out = str(tmp_path_factory.mktemp('shop'))
  simulator.generate(out, simulator.ShopConfig(**SMALL_SHOP))
  return out


def write_table(path, frame):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if path.endswith('.csv'):
    frame.to_csv(path, index=False)
  else:
    frame.to_parquet(path, index=False)
  return path


@pytest.fixture
def handmade_dir(tmp_path):
  """A tiny hand-written data directory: 3 items, 2 users, 2 spans (parquet)."""
  root = str(tmp_path / 'data')
  write_table(f'{root}/catalog.parquet', pd.DataFrame({
      'item_id': ['a', 'b', 'c'], 'title': ['red shoe', 'blue pan', 'green lamp'],
      'category': ['shoes', 'kitchen', 'home'], 'brand': ['x', 'y', 'z'],
      'price': [10.0, 20.0, 30.0]}))
  write_table(f'{root}/users.parquet', pd.DataFrame({'user_id': ['u1', 'u2'],
                                                     'segment': ['budget', 'premium']}))
  write_table(f'{root}/events/span-1/events.parquet', pd.DataFrame({
      'request_id': ['r1', 'r1', 'r1', 'r2'], 'timestamp': [100, 100, 105, 200],
      'user_id': ['u1', 'u1', 'u1', 'u2'], 'query': ['red shoe', 'red shoe', 'red shoe', ''],
      'item_id': ['a', 'b', 'a', 'c'], 'position': [0, 1, 0, None],
      'event': ['impression', 'impression', 'click', 'purchase']}))
  write_table(f'{root}/events/span-2/events.parquet', pd.DataFrame({
      'request_id': ['r3', 'r3'], 'timestamp': [300, 300], 'user_id': ['u1', 'u1'],
      'query': ['', ''], 'item_id': ['b', 'c'], 'position': [0, 1],
      'event': ['impression', 'impression']}))
  return root


@pytest.fixture
def table_writer():
  """write_table(path, frame) as a fixture (test modules cannot import conftest by name)."""
  return write_table
