"""`make bench-ceiling`: how much of the oracle's NDCG@10 the observable data can give.

The oracle ranks by the simulator's true utility (recfusion/data/simulator.py), whose terms use
latent values no log shows: the user's price and category preferences, the item's quality, and
the user's exact click history. This ranks the quality benchmark's eval requests by the same
formula, with the true weights, after replacing latent values by what the logs reveal, one at
a time and then together:
  history as logged   affinity over the pipeline's history (the 20 most recent distinct
                      engaged items) instead of the last 10 clicks
  user preferences    price preference = mean log price of that history, shrunk to the
                      population mean (3 pseudo-items); category preference = its category
                      counts + 0.3 (the simulator's Dirichlet prior)
  item quality noise  quality + N(0, sd): a model can only learn quality from clicks
  quality at the information limit
                      the posterior mean of each item's quality given its `train` feedback,
                      drawn at the Fisher information of those impressions, clicks, carts and
                      purchases about it (prior N(0, 1)): no learner gets quality more exactly
                      from the same logs, so with everything else known this bounds them all
No model knows the formula, so these are optimistic bounds on what models can reach; they say
which unknown costs how much. Writes bench/ceiling.json and prints a table.
"""
import argparse
import json
import os
from typing import Dict, List, Mapping, Sequence

import numpy as np
import pandas as pd

from recfusion import ranking_metrics
from tools.bench import quality
from recfusion.data import join
from recfusion.config import load_config
from recfusion.data import contract, simulator

PRICE_PRIOR_ITEMS = 3


def estimated_utility(shop: simulator.Shop, user: int, query_words: List[str],
                      items: np.ndarray, history: List[int], quality: np.ndarray,
                      logged: bool, estimate_user: bool, history_max: int = 20) -> np.ndarray:
  """The simulator's utility formula with chosen latent values replaced by estimates."""
  n_cat = len(shop.categories)
  seen = join.most_recent_unique(history, history_max)
  recent = seen if logged else history[-simulator.HISTORY_WINDOW:]
  user_log_price, user_pref = shop.user_log_price[user], shop.user_pref[user]
  if estimate_user:
    user_log_price = ((shop.item_log_price[seen].sum()
                       + PRICE_PRIOR_ITEMS * simulator.USER_LOG_PRICE_MEAN)
                      / (len(seen) + PRICE_PRIOR_ITEMS))
    counts = np.bincount(shop.item_category[seen], minlength=n_cat)
    user_pref = ((counts + simulator.CATEGORY_CONCENTRATION)
                 / (counts.sum() + simulator.CATEGORY_CONCENTRATION * n_cat))
  return shop.utility_given(query_words, items, recent, user_log_price, user_pref, quality)


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def quality_information(shop: simulator.Shop, user: int, query_words: List[str],
                        history: List[int], shown: np.ndarray, positions: np.ndarray,
                        clicked: np.ndarray, carted: np.ndarray) -> np.ndarray:
  """Fisher information about each shown item's quality from one request's feedback.

  Click: Bernoulli with p = sigmoid(CLICK_SLOPE (u - CLICK_BIAS)) (1 + position)^-DECAY;
  cart given click and purchase given cart: sigmoid(u - bias); u moves W_QUALITY per unit of
  quality. A Bernoulli's information is p'^2 / (p (1 - p)).
  """
  utility = shop.utility(user, query_words, shown, history)
  interest = _sigmoid(simulator.CLICK_SLOPE * (utility - simulator.CLICK_BIAS))
  position_bias = (1.0 + positions) ** -simulator.POSITION_DECAY
  p_click = interest * position_bias
  slope = simulator.W_QUALITY * simulator.CLICK_SLOPE * interest * (1 - interest) * position_bias
  information = slope ** 2 / (p_click * (1 - p_click))
  p_cart = _sigmoid(utility - simulator.CART_BIAS)
  p_buy = _sigmoid(utility - simulator.BUY_BIAS)
  information += clicked * simulator.W_QUALITY ** 2 * p_cart * (1 - p_cart)
  information += carted * simulator.W_QUALITY ** 2 * p_buy * (1 - p_buy)
  return information


def measure(config: simulator.ShopConfig, fractions: Mapping[str, float], history_max: int,
            quality_noise: Sequence[float] = (0.2, 0.35, 0.5, 0.7), draws: int = 5,
            seed: int = 0) -> Dict:
  requests, shops = {}, []

  def record(shop, request_id, user, query_words, history):
    shops[:] = [shop]
    requests[request_id] = (user, query_words, history)

  _, _, spans, _ = simulator.simulate(config, on_request=record)
  shop = shops[0]
  events = pd.concat(spans.values())
  events['gain'] = events['event'].map(contract.EVENT_GAINS)
  # The pipeline's time split of requests (LogJoinExampleGen, `fractions` mode).
  first_seen = events.groupby('request_id')['timestamp'].min()
  train_cut, eval_cut = join.time_boundaries(first_seen.min(), first_seen.max(), fractions)
  gains = events[events['request_id'].isin(first_seen.index[first_seen >= eval_cut])].groupby(
      ['request_id', 'item_id'])['gain'].max()
  item_index = {item: i for i, item in enumerate(shop.item_ids)}
  rows = [(request_id, item_index[item]) for request_id, item in gains.index]
  information = np.zeros(config.num_items)
  train_events = events[events['request_id'].isin(first_seen.index[first_seen < train_cut])
                        & events['position'].notna()]
  for request_id, logged in train_events.groupby('request_id'):
    user, query_words, history = requests[request_id]
    feedback = logged.groupby('item_id').agg(position=('position', 'min'),
                                             gain=('gain', 'max'))
    shown = feedback.index.map(item_index).values
    information[shown] += quality_information(
        shop, user, query_words, history, shown, feedback['position'].values.astype(float),
        (feedback['gain'] >= 1).values, (feedback['gain'] >= 2).values)
  request_ids = np.array([r for r, _ in rows])
  items = np.array([i for _, i in rows])
  groups = pd.Series(np.arange(len(rows))).groupby(request_ids).indices

  def ndcg(quality, logged, estimate_user):
    scores = np.empty(len(rows))
    for request_id, index in groups.items():
      user, query_words, history = requests[request_id]
      scores[index] = estimated_utility(shop, user, query_words, items[index], history,
                                        quality, logged, estimate_user, history_max)
    return ranking_metrics.ndcg_at_k(request_ids, gains.values.astype(float), scores, 10)

  true_quality = shop.item_quality
  rng = np.random.default_rng(seed)
  result = {'oracle': ndcg(true_quality, False, False),
            'history as logged': ndcg(true_quality, True, False),
            'user preferences estimated': ndcg(true_quality, False, True),
            'history as logged + user preferences estimated': ndcg(true_quality, True, True)}
  # Noisy rows: the mean over `draws` draws of the noise.
  for sd in quality_noise:
    result[f'all observable + item quality noise sd {sd}'] = float(np.mean([
        ndcg(true_quality + rng.normal(scale=sd, size=len(true_quality)), True, True)
        for _ in range(draws)]))
  # Posterior mean of N(0, 1) quality after an unbiased estimate with variance 1 / information.
  def posterior_mean():
    unbiased = true_quality + rng.normal(size=len(true_quality)) / np.sqrt(
        np.maximum(information, 1e-12))
    return np.where(information > 0, information * unbiased / (1 + information), 0.0)

  result['all observable + quality at the information limit'] = float(np.mean([
      ndcg(posterior_mean(), True, True) for _ in range(draws)]))
  result['all observable, no item quality'] = ndcg(np.zeros_like(true_quality), True, True)
  posterior_sd = 1 / np.sqrt(1 + information)
  return {'ndcg@10': result, 'eval_requests': len(groups), 'eval_examples': len(rows),
          'quality_posterior_sd': {'mean': float(posterior_sd.mean()),
                                   'median': float(np.median(posterior_sd))}}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', default='bench/ceiling.json')
  parser.add_argument('--requests-per-day', type=int, default=2950,
                      help='as make bench-quality: the same seeded shop')
  args = parser.parse_args()
  config = load_config(overrides=quality.bench_config_overrides(args.requests_per_day))
  result = measure(config.generate,
                   config.data.split.fractions, config.data.history_max)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, 'w') as f:
    json.dump(result, f, indent=2)
  oracle = result['ndcg@10']['oracle']
  for name, value in result['ndcg@10'].items():
    print(f'{name:52s} {value:.4f}  ({value - oracle:+.4f})')
  print(f"item quality posterior sd from train feedback: {result['quality_posterior_sd']}")


if __name__ == '__main__':
  main()
