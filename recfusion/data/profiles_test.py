"""Unit tests of the simulator profiles shaped like real logs: what each one logs and leaves
out, its relevance model, and that both write the data contract."""
import numpy as np
import pandas as pd
import pytest

from recfusion.config import ConfigError
from recfusion.data import contract, profiles, simulator

SEARCH = simulator.ShopConfig.defaults(profile='search_graded', seed=3, num_items=400,
                                       num_days=2, requests_per_day=40,
                                       impressions_per_request=8)
SESSIONS = simulator.ShopConfig.defaults(profile='sessions', seed=3, num_items=300,
                                         num_users=30, num_days=3, requests_per_day=40)


def test_unknown_profile_is_refused_with_the_key_named():
  with pytest.raises(ConfigError, match=r"generate.profile: must be one of .*'mall'"):
    simulator.ShopConfig.defaults(profile='mall')


def test_search_profile_logs_judged_queries_and_nothing_about_users(tmp_path):
  counts = simulator.generate(str(tmp_path), SEARCH)
  assert counts['users'] == 0 and not list(tmp_path.glob('users.*'))
  catalog = pd.read_parquet(tmp_path / 'catalog.parquet')
  assert list(catalog.columns) == ['item_id', 'title']
  events = pd.concat(pd.read_parquet(p) for p in sorted(tmp_path.glob('events/*/*.parquet')))
  assert list(events.columns) == ['request_id', 'timestamp', 'query', 'item_id', 'event', 'gain']
  assert set(events['event']) == {'impression'}
  assert set(events['gain']) <= {1.0, 2.0, 3.0} and events['gain'].nunique() == 3
  assert (events['query'] != '').all()
  assert events['request_id'].nunique() == 80
  truth = pd.read_parquet(tmp_path / 'truth' / 'utility.parquet')
  assert len(truth) == len(events)
  assert contract.check_data_dir(str(tmp_path), window_spans=2)['event_rows'] == len(events)


def test_search_profile_titles_carry_units_and_model_numbers_and_queries_typos():
  catalog, _, spans, _ = profiles.simulate_search_graded(
      simulator.ShopConfig.defaults(profile='search_graded', seed=1, num_items=2000,
                                    num_days=1, requests_per_day=500))
  assert catalog['title'].str.contains(r'Model [A-Z]{2}-\d{3}$').all()
  assert catalog['title'].str.contains('-gal.').any() and catalog['title'].str.contains(
      '-gauge').any()
  words = {w for q in spans[0]['query'] for w in q.split()}
  vocabulary = {w for t in profiles.PRODUCT_TYPES for part in t for w in part.split()}
  vocabulary |= {w for a in profiles.ATTRIBUTES for w in a.split()}
  vocabulary |= set(profiles.SYNONYMS.values())
  assert {'tap', 'gallon'} <= words
  unknown = {w for w in words if w not in vocabulary and w.rstrip('s') not in vocabulary
             and not any(c.isdigit() for c in w)}
  assert unknown, 'some queries must carry typos'


def test_search_relevance_puts_the_product_type_before_look_alikes_and_sizes_matter():
  shop = profiles._SearchCatalog(4, np.random.default_rng(0))  # pylint: disable=protected-access
  paint = profiles.PRODUCT_TYPES.index(('', 'paint'))
  sprayer = profiles.PRODUCT_TYPES.index(('paint', 'sprayer'))
  shop.type[:] = [paint, paint, sprayer, paint]
  shop.unit[:] = [0, 1, -1, -1]  # 1-gal., 5-gal., none, none
  shop.attribute[:] = 0
  shop.second_attribute[:] = -1
  shop.quality[:] = 0.0
  relevance = shop.relevance(paint, query_attribute=-1, query_unit=0,
                             items=np.arange(4))
  np.testing.assert_allclose(relevance, [
      profiles.W_HEAD + profiles.W_UNIT,            # paint, the size asked for
      profiles.W_HEAD - profiles.W_UNIT_MISMATCH,   # paint, another size
      0.0,                                          # a paint sprayer is not paint
      profiles.W_HEAD])                             # paint, size not given


def test_typo_is_one_edit_that_keeps_the_first_and_last_letters():
  rng = np.random.default_rng(4)
  for _ in range(50):
    typed = profiles._typo('faucet', rng)  # pylint: disable=protected-access
    assert typed != 'faucet' and abs(len(typed) - 6) <= 1
    assert typed[0] == 'f' and typed[-1] == 't'
  assert profiles._typo('1-gal', rng) == '1-gal'  # pylint: disable=protected-access


def test_sessions_profile_logs_touched_items_of_a_category_only_catalog(tmp_path):
  counts = simulator.generate(str(tmp_path), SESSIONS)
  assert counts['users'] == 30
  assert not (tmp_path / 'truth').exists()
  catalog = pd.read_parquet(tmp_path / 'catalog.parquet')
  assert list(catalog.columns) == ['item_id', 'category']
  events = pd.concat(pd.read_parquet(p) for p in sorted(tmp_path.glob('events/*/*.parquet')))
  assert set(events['event']) <= {'click', 'add_to_cart', 'purchase'}
  assert 'query' not in events and 'position' not in events
  carts = set(zip(events.loc[events['event'] == 'add_to_cart', 'request_id'],
                  events.loc[events['event'] == 'add_to_cart', 'item_id']))
  purchases = set(zip(events.loc[events['event'] == 'purchase', 'request_id'],
                      events.loc[events['event'] == 'purchase', 'item_id']))
  assert purchases and purchases <= carts
  assert contract.check_data_dir(str(tmp_path), window_spans=3)['event_rows'] == len(events)


def _consecutive_sessions_sharing_a_category() -> float:
  catalog, _, spans, _ = profiles.simulate_sessions(
      simulator.ShopConfig.defaults(profile='sessions', seed=2, num_items=600, num_users=40,
                                    num_days=4, requests_per_day=100))
  category = catalog.set_index('item_id')['category']
  events = pd.concat(spans.values()).sort_values(['timestamp', 'request_id'])
  sessions = events.groupby(['user_id', 'request_id'], sort=False)['item_id'].apply(
      lambda items: set(category[items]))
  shared = []
  for _, user_sessions in sessions.groupby(level=0):
    cats = list(user_sessions)
    shared += [bool(previous & current) for previous, current in zip(cats, cats[1:])]
  return float(np.mean(shared))


def test_sessions_continue_the_last_sessions_categories(monkeypatch):
  with_continuation = _consecutive_sessions_sharing_a_category()
  monkeypatch.setattr(profiles, 'CONTINUE_SHARE', 0.0)
  taste_alone = _consecutive_sessions_sharing_a_category()
  # Recency is structure beyond the long-run taste: it must show in the logs.
  assert with_continuation > taste_alone + 0.15
