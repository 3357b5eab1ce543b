"""Unit tests of the observable-ceiling analysis (tools/bench/ceiling.py)."""
import numpy as np
import pytest

from tools.bench import ceiling
from recfusion.data import join
from recfusion.data import simulator

TINY = simulator.ShopConfig.defaults(seed=3, num_items=60, num_users=15, num_days=2, requests_per_day=40,
                            impressions_per_request=5)


def test_utility_with_nothing_estimated_is_the_simulators():
  shop = simulator.Shop(TINY)
  items = np.arange(10)
  history = [3, 5, 5, 7] * 4  # more than the simulator's window of 10, with repeats
  for query in ([], ['pan'], shop.item_words[2][:2]):
    np.testing.assert_allclose(
        ceiling.estimated_utility(shop, 4, query, items, history, shop.item_quality,
                                  logged=False, estimate_user=False),
        shop.utility(4, query, items, history))


def test_estimated_user_preferences_come_from_the_history():
  shop = simulator.Shop(TINY)
  item = 0
  same_category = [i for i in range(TINY.num_items)
                   if shop.item_category[i] == shop.item_category[item]][:2]
  # With a history of two items, the price preference is their mean log price shrunk towards
  # 3.7 by 3 pseudo-items; the category preference (count + 0.3) / (2 + 0.3 * 8).
  zero_quality = np.zeros(TINY.num_items)
  got = ceiling.estimated_utility(shop, 0, [], np.array([item]), same_category, zero_quality,
                                  logged=True, estimate_user=True)[0]
  price = (shop.item_log_price[same_category].sum() + 3 * 3.7) / 5
  share = (2 + 0.3) / (2 + 0.3 * 8)
  seen = join.most_recent_unique(same_category, 20)
  affinity = np.mean([(shop.item_brand[item] == shop.item_brand[i]) + 0.5 for i in seen])
  expected = (-simulator.W_PRICE * (shop.item_log_price[item] - price) ** 2
              + simulator.W_CATEGORY * np.log(8 * share + 1e-3) + simulator.W_HISTORY * affinity)
  assert got == pytest.approx(expected)


def test_quality_information_of_one_impression():
  shop = simulator.Shop(TINY)
  shown = np.array([1])
  u = shop.utility(2, [], shown, [])[0]
  s = 1 / (1 + np.exp(-simulator.CLICK_SLOPE * (u - simulator.CLICK_BIAS)))
  bias = 3.0 ** -simulator.POSITION_DECAY  # position 2
  p = s * bias
  click_only = (simulator.W_QUALITY * simulator.CLICK_SLOPE * s * (1 - s) * bias) ** 2 / (
      p * (1 - p))
  got = ceiling.quality_information(shop, 2, [], [], shown, np.array([2.0]),
                                    np.array([False]), np.array([False]))
  assert got[0] == pytest.approx(click_only)
  clicked = ceiling.quality_information(shop, 2, [], [], shown, np.array([2.0]),
                                        np.array([True]), np.array([False]))
  p_cart = 1 / (1 + np.exp(-(u - simulator.CART_BIAS)))
  assert clicked[0] == pytest.approx(click_only + simulator.W_QUALITY ** 2 * p_cart * (1 - p_cart))


def test_measure_reports_every_bound_on_a_tiny_shop():
  result = ceiling.measure(TINY, {'train': 0.7, 'validation': 0.15, 'eval': 0.15}, 20, draws=2)
  ndcg = result['ndcg@10']
  assert set(ndcg) >= {'oracle', 'history as logged', 'user preferences estimated',
                       'all observable + quality at the information limit',
                       'all observable, no item quality'}
  assert all(0.0 < value <= 1.0 for value in ndcg.values())
  assert result['eval_requests'] > 0
  assert 0 < result['quality_posterior_sd']['mean'] <= 1.0
