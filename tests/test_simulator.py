"""Unit tests of the shop simulator: determinism, the contract, and the generative model."""
import numpy as np
import pandas as pd

from recfusion.data import contract, simulator

TINY = simulator.ShopConfig.defaults(seed=1, num_items=50, num_users=20, num_days=2, requests_per_day=30,
                            impressions_per_request=5, no_impression_share=0.2)


def test_same_seed_same_data_and_other_seed_other_data():
  first = simulator.simulate(TINY)
  again = simulator.simulate(TINY)
  other = simulator.simulate(simulator.ShopConfig(**{**TINY.__dict__, 'seed': 2}))
  pd.testing.assert_frame_equal(first[2][0], again[2][0])
  assert not first[2][0].equals(other[2][0])


def test_written_data_satisfies_the_contract(tmp_path):
  counts = simulator.generate(str(tmp_path), TINY)
  assert counts['spans'] == 2 and counts['requests'] == 60
  checked = contract.check_data_dir(str(tmp_path), window_spans=2)
  assert checked['event_rows'] == counts['event_rows']


def test_csv_output_satisfies_the_contract(tmp_path):
  simulator.generate(str(tmp_path), simulator.ShopConfig(**{**TINY.__dict__,
                                                            'file_format': 'csv'}))
  assert contract.check_data_dir(str(tmp_path), window_spans=2)['spans'] == 2


def test_requests_show_k_items_and_some_logs_keep_only_positive_events():
  _, _, spans, _ = simulator.simulate(TINY)
  events = pd.concat(spans.values())
  impressions = events[events['event'] == 'impression']
  assert impressions.groupby('request_id').size().eq(5).all()
  without_impressions = set(events['request_id']) - set(impressions['request_id'])
  assert without_impressions, 'no_impression_share=0.2 should produce such requests'
  assert events[events['request_id'].isin(without_impressions)]['position'].isna().all()


def test_search_requests_have_queries_and_recommendations_do_not():
  _, _, spans, _ = simulator.simulate(
      simulator.ShopConfig(**{**TINY.__dict__, 'search_share': 1.0}))
  assert (spans[0]['query'] != '').all()
  _, _, spans, _ = simulator.simulate(
      simulator.ShopConfig(**{**TINY.__dict__, 'search_share': 0.0}))
  assert (spans[0]['query'] == '').all()


def test_utility_rewards_query_title_match():
  shop = simulator.Shop(TINY)
  item = 0
  words = shop.item_words[item]
  matching = shop.utility(0, words[:1], np.array([item]), [])
  not_matching = shop.utility(0, ['zzzz'], np.array([item]), [])
  assert matching[0] - not_matching[0] == simulator.W_MATCH


def test_utility_rewards_history_of_same_brand():
  shop = simulator.Shop(simulator.ShopConfig.defaults(num_items=200))
  item = 0
  same_brand = [i for i in range(1, 200) if shop.item_brand[i] == shop.item_brand[0]]
  assert same_brand, '200 items over 40 brands must repeat a brand'
  with_history = shop.utility(0, [], np.array([item]), [same_brand[0]])
  without = shop.utility(0, [], np.array([item]), [])
  assert with_history[0] - without[0] == simulator.W_HISTORY * 1.5


def test_clicks_fall_with_position():
  config = simulator.ShopConfig.defaults(seed=5, num_items=300, num_users=200, num_days=3,
                                requests_per_day=400)
  _, _, spans, _ = simulator.simulate(config)
  events = pd.concat(spans.values())
  shown = events[events['event'] == 'impression'].groupby('position').size()
  clicked = events[events['event'] == 'click'].dropna(subset=['position']).groupby(
      'position').size()
  ctr = (clicked / shown).fillna(0)
  assert ctr[0] > 2 * ctr[5] > 0
  assert ctr[0] < 0.6


def test_truth_has_utility_of_every_engaged_item(tmp_path):
  _, _, spans, truth = simulator.simulate(TINY)
  events = pd.concat(spans.values())
  engaged = events[events['event'] != 'impression'][['request_id', 'item_id']]
  merged = engaged.merge(truth, on=['request_id', 'item_id'], how='left')
  assert merged['utility'].notna().all()


def test_on_request_sees_every_request_with_the_clicks_before_it():
  seen = []
  _, _, spans, _ = simulator.simulate(TINY, on_request=lambda shop, request_id, user, query,
                                      history: seen.append((request_id, user, history)))
  assert [r for r, _, _ in seen] == [f'req-{i:07d}' for i in range(60)]
  events = pd.concat(spans.values())
  clicks = events[events['event'] == 'click']
  # A user's history before a request = the items they clicked in their earlier requests.
  for request_id, user, history in seen:
    user_id = f'user-{user:05d}'
    earlier = clicks[(clicks['user_id'] == user_id) & (clicks['request_id'] < request_id)]
    assert sorted(history) == sorted(int(i.split('-')[1]) for i in earlier['item_id'])
