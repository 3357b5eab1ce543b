"""A seeded simulator of an online shop that writes the data contract (docs/architecture.md §3, §4).

Generative model
----------------
Catalog. Each item has a category (one of CATEGORIES), a brand (BRANDS_PER_CATEGORY per
category), a title `<brand> <adjective> <noun> [<noun>]` built from the category's vocabulary, a
log-normal price around the category's price level, and a latent quality q ~ N(0, 1).

Users. Each user has category preferences c_u ~ Dirichlet(0.3) (a few favourite categories),
a preferred log-price p_u, and a segment (budget / regular / premium) from p_u.

Requests. Each day has `requests_per_day` requests at uniform times, each from a random user
(active users are drawn more often). With probability `search_share` it is a search: the user
picks a category from c_u and types 1-2 of its words; otherwise it is a recommendation
request with an empty query. Candidates are mostly from the query's (search) or the user's
favourite (recommendation) categories, plus random items; a noisy production ranker orders them
and the top `impressions_per_request` are shown at positions 0..K-1.

True utility of item i for request r by user u (the ranking target the oracle knows):
  u(r, i) = W_MATCH   * match(query, title_i)                   (a) text relevance, search only
          + W_QUALITY * q_i + W_PRICE * price_fit(p_u, price_i)  (b) tabular
          + W_CATEGORY * log(K * c_u[category_i])                 (b) user x category cross
          + W_HISTORY * affinity(history_u, i)                    (c) sequence
where match is the share of query words in the title, price_fit = -(log price - p_u)^2, and
affinity is the mean similarity (same brand 1, same category 0.5) of i to the user's last
HISTORY_WINDOW positively engaged items *before* this request.

Feedback. An impression at position k is clicked with probability
  sigmoid(CLICK_SLOPE * (u - CLICK_BIAS)) * (1 + k)^-POSITION_DECAY
(position bias: the same item is clicked less further down). A click leads to an add-to-cart
with probability sigmoid(u - CART_BIAS), and a cart to a purchase with sigmoid(u - BUY_BIAS).
Engaged items join the user's history. A `no_impression_share` of requests come from a logger
that kept only positive events (no impressions, no positions): the pipeline samples catalog
negatives for those.

Outputs: catalog, users, events/span-<day>/events.<fmt>, and truth/utility.parquet with the
true utility of every logged (request, item): not part of the contract, used for oracle metrics.
"""
import os
from typing import Callable, Dict, List, Optional

import numpy as np
import pandas as pd

from recfusion.config import ShopConfig  # noqa: F401  (the `generate` section is the shop's settings)

CATEGORIES: Dict[str, Dict[str, List[str]]] = {
    'shoes': {'nouns': ['sneaker', 'boot', 'sandal', 'loafer', 'trainer', 'slipper'],
              'adjectives': ['running', 'leather', 'trail', 'waterproof', 'suede', 'canvas']},
    'kitchen': {'nouns': ['pan', 'knife', 'kettle', 'blender', 'pot', 'grater'],
                'adjectives': ['nonstick', 'steel', 'cast', 'electric', 'ceramic', 'copper']},
    'electronics': {'nouns': ['headphones', 'speaker', 'charger', 'cable', 'keyboard', 'mouse'],
                    'adjectives': ['wireless', 'bluetooth', 'usb', 'gaming', 'portable', 'noise']},
    'outdoor': {'nouns': ['tent', 'backpack', 'lantern', 'sleeping', 'stove', 'hammock'],
                'adjectives': ['camping', 'hiking', 'ultralight', 'folding', 'solar', 'insulated']},
    'beauty': {'nouns': ['serum', 'cream', 'lipstick', 'shampoo', 'mask', 'cleanser'],
               'adjectives': ['hydrating', 'organic', 'matte', 'vitamin', 'gentle', 'herbal']},
    'toys': {'nouns': ['puzzle', 'blocks', 'doll', 'robot', 'car', 'kite'],
             'adjectives': ['wooden', 'plush', 'remote', 'magnetic', 'educational', 'giant']},
    'home': {'nouns': ['lamp', 'rug', 'pillow', 'curtain', 'vase', 'blanket'],
             'adjectives': ['cotton', 'linen', 'velvet', 'woven', 'minimalist', 'vintage']},
    'sports': {'nouns': ['racket', 'ball', 'mat', 'dumbbell', 'bottle', 'gloves'],
               'adjectives': ['tennis', 'yoga', 'adjustable', 'training', 'grip', 'pro']},
}
PRICE_LEVEL = {'shoes': 4.2, 'kitchen': 3.6, 'electronics': 4.0, 'outdoor': 4.4,
               'beauty': 3.0, 'toys': 3.2, 'home': 3.7, 'sports': 3.5}
BRANDS_PER_CATEGORY = 5
_SYLLABLES = ['ka', 'lo', 'mi', 'ra', 'ze', 'to', 'vu', 'ne', 'pi', 'so', 'da', 'fe']

W_MATCH, W_QUALITY, W_PRICE, W_CATEGORY, W_HISTORY = 3.0, 0.8, 0.6, 0.5, 2.0
HISTORY_WINDOW = 10
CATEGORY_CONCENTRATION = 0.3  # Dirichlet prior of the users' category preferences
USER_LOG_PRICE_MEAN = 3.7
CLICK_SLOPE, CLICK_BIAS = 1.2, 3.5
POSITION_DECAY = 0.8
CART_BIAS, BUY_BIAS = 2.5, 2.0
START_EPOCH = 1767225600  # 2026-01-01T00:00:00Z: span N covers day N after it


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


class Shop:
  """The simulated shop's fixed world: catalog and users."""

  def __init__(self, config: ShopConfig):
    self.config = config
    rng = np.random.default_rng([config.seed, 0])
    self.categories = list(CATEGORIES)
    n_cat = len(self.categories)
    brands = []
    for c in range(n_cat):
      for _ in range(BRANDS_PER_CATEGORY):
        brands.append(''.join(rng.choice(_SYLLABLES, size=3)).capitalize())
    self.item_category = rng.integers(0, n_cat, size=config.num_items)
    self.item_brand = np.array([c * BRANDS_PER_CATEGORY + rng.integers(BRANDS_PER_CATEGORY)
                                for c in self.item_category])
    self.item_quality = rng.normal(size=config.num_items)
    levels = np.array([PRICE_LEVEL[self.categories[c]] for c in self.item_category])
    self.item_log_price = levels + rng.normal(scale=0.5, size=config.num_items)
    self.item_words: List[List[str]] = []
    titles = []
    for i, c in enumerate(self.item_category):
      vocab = CATEGORIES[self.categories[c]]
      words = [str(rng.choice(vocab['adjectives'])), str(rng.choice(vocab['nouns']))]
      if rng.random() < 0.5:
        words.append(str(rng.choice(vocab['nouns'])))
      self.item_words.append(words)
      titles.append(' '.join([brands[self.item_brand[i]]] + words))
    self.item_ids = np.array([f'item-{i:05d}' for i in range(config.num_items)])
    self.catalog = pd.DataFrame({
        'item_id': self.item_ids,
        'title': titles,
        'category': [self.categories[c] for c in self.item_category],
        'brand': [brands[b] for b in self.item_brand],
        'price': np.round(np.exp(self.item_log_price), 2),
    })
    self.user_pref = rng.dirichlet(np.full(n_cat, CATEGORY_CONCENTRATION), size=config.num_users)
    self.user_log_price = rng.normal(USER_LOG_PRICE_MEAN, 0.5, size=config.num_users)
    self.user_activity = rng.pareto(1.5, size=config.num_users) + 1.0
    segments = np.where(self.user_log_price < 3.4, 'budget',
                        np.where(self.user_log_price > 4.0, 'premium', 'regular'))
    self.user_ids = np.array([f'user-{u:05d}' for u in range(config.num_users)])
    self.users = pd.DataFrame({'user_id': self.user_ids, 'segment': segments})
    self.items_by_category = [np.flatnonzero(self.item_category == c) for c in range(n_cat)]

  def utility(self, user: int, query_words: List[str], items: np.ndarray,
              history: List[int]) -> np.ndarray:
    """True utility of `items` for one request (see the module docstring)."""
    return self.utility_given(query_words, items, history[-HISTORY_WINDOW:],
                              self.user_log_price[user], self.user_pref[user], self.item_quality)

  def utility_given(self, query_words: List[str], items: np.ndarray, recent: List[int],
                    user_log_price: float, user_pref: np.ndarray,
                    quality: np.ndarray) -> np.ndarray:
    """The utility formula with the user's preferences, their recent clicks and the items'
    quality given: the true latent values, or estimates of them (bench/ceiling.py)."""
    n_cat = len(self.categories)
    if query_words:
      match = np.array([sum(w in self.item_words[i] for w in query_words) / len(query_words)
                        for i in items])
    else:
      match = np.zeros(len(items))
    price_fit = -(self.item_log_price[items] - user_log_price) ** 2
    category = np.log(n_cat * user_pref[self.item_category[items]] + 1e-3)
    affinity = np.zeros(len(items))
    if len(recent):
      recent = np.asarray(recent)
      same_brand = self.item_brand[items][:, None] == self.item_brand[recent][None, :]
      same_cat = self.item_category[items][:, None] == self.item_category[recent][None, :]
      affinity = (1.0 * same_brand + 0.5 * same_cat).mean(axis=1)
    return (W_MATCH * match + W_QUALITY * quality[items] + W_PRICE * price_fit
            + W_CATEGORY * category + W_HISTORY * affinity)


def simulate(config: ShopConfig, on_request: Optional[Callable[..., None]] = None):
  """Returns (catalog, users, {span: events}, truth) as pandas frames.

  `on_request(shop, request_id, user, query_words, history)`, if given, sees each request's
  latent inputs to the utility (bench/ceiling.py measures what they are worth); `history` is
  the user's clicked items before the request, oldest first.
  """
  shop = Shop(config)
  rng = np.random.default_rng([config.seed, 1])
  n_cat = len(shop.categories)
  k = config.impressions_per_request
  activity = shop.user_activity / shop.user_activity.sum()
  histories: Dict[int, List[int]] = {u: [] for u in range(config.num_users)}
  spans: Dict[int, pd.DataFrame] = {}
  truth_rows = []
  request_counter = 0
  for day in range(config.num_days):
    rows = []
    times = np.sort(rng.integers(0, 86400 - 3600, size=config.requests_per_day))
    for t in times:
      request_id = f'req-{request_counter:07d}'
      request_counter += 1
      timestamp = START_EPOCH + day * 86400 + int(t)
      user = int(rng.choice(config.num_users, p=activity))
      is_search = rng.random() < config.search_share
      focus = int(rng.choice(n_cat, p=shop.user_pref[user]))
      query_words: List[str] = []
      if is_search:
        vocab = CATEGORIES[shop.categories[focus]]
        query_words = [str(rng.choice(vocab['nouns']))]
        if rng.random() < 0.5:
          query_words.insert(0, str(rng.choice(vocab['adjectives'])))
      pool_size = min(config.num_items, 3 * k)
      in_focus = shop.items_by_category[focus]
      from_focus = rng.choice(in_focus, size=min(len(in_focus), 2 * k), replace=False)
      pool = np.unique(np.concatenate(
          [from_focus, rng.choice(config.num_items, size=pool_size, replace=False)]))
      history = histories[user]
      if on_request is not None:
        on_request(shop, request_id, user, query_words, list(history))
      utility = shop.utility(user, query_words, pool, history)
      production_score = utility + rng.normal(scale=1.5, size=len(pool))
      shown = pool[np.argsort(-production_score)[:k]]
      shown_utility = utility[np.argsort(-production_score)[:k]]
      click = rng.random(k) < (_sigmoid(CLICK_SLOPE * (shown_utility - CLICK_BIAS))
                               * (1.0 + np.arange(k)) ** -POSITION_DECAY)
      cart = click & (rng.random(k) < _sigmoid(shown_utility - CART_BIAS))
      buy = cart & (rng.random(k) < _sigmoid(shown_utility - BUY_BIAS))
      log_impressions = rng.random() >= config.no_impression_share
      query = ' '.join(query_words)
      for position, item in enumerate(shown):
        events = []
        if log_impressions:
          events.append(('impression', 0))
        if click[position]:
          events.append(('click', 5 + position))
        if cart[position]:
          events.append(('add_to_cart', 60 + position))
        if buy[position]:
          events.append(('purchase', 300 + position))
        for event, delay in events:
          rows.append((request_id, timestamp + delay, shop.user_ids[user], query,
                       shop.item_ids[item], position if log_impressions else None, event))
        if events:
          truth_rows.append((request_id, shop.item_ids[item], float(shown_utility[position])))
      histories[user].extend(int(i) for i in shown[click])
    spans[day] = pd.DataFrame(rows, columns=['request_id', 'timestamp', 'user_id', 'query',
                                             'item_id', 'position', 'event'])
    spans[day]['position'] = spans[day]['position'].astype('Int64')
  truth = pd.DataFrame(truth_rows, columns=['request_id', 'item_id', 'utility'])
  return shop.catalog, shop.users, spans, truth


def _write(frame: pd.DataFrame, path_without_suffix: str, file_format: str) -> str:
  path = f'{path_without_suffix}.{file_format}'
  if file_format == 'parquet':
    frame.to_parquet(path, index=False)
  else:
    frame.to_csv(path, index=False)
  return path


def generate(out_dir: str, config: ShopConfig) -> Dict[str, int]:
  """Writes the data contract under `out_dir` and returns counts of what it wrote.

  `config.profile` picks the shop: this module's (`shop`) or one of recfusion/data/profiles.py.
  """
  from recfusion.data import profiles
  simulators = {'shop': simulate, 'search_graded': profiles.simulate_search_graded,
                'sessions': profiles.simulate_sessions}
  catalog, users, spans, truth = simulators[config.profile](config)
  os.makedirs(out_dir, exist_ok=True)
  _write(catalog, os.path.join(out_dir, 'catalog'), config.file_format)
  if users is not None:  # a log without users writes no users file, as the contract allows
    _write(users, os.path.join(out_dir, 'users'), config.file_format)
  event_rows = 0
  for span, events in spans.items():
    span_dir = os.path.join(out_dir, 'events', f'span-{span}')
    os.makedirs(span_dir, exist_ok=True)
    _write(events, os.path.join(span_dir, 'events'), config.file_format)
    event_rows += len(events)
  if truth is not None:
    os.makedirs(os.path.join(out_dir, 'truth'), exist_ok=True)
    truth.to_parquet(os.path.join(out_dir, 'truth', 'utility.parquet'), index=False)
  return {'items': len(catalog), 'users': 0 if users is None else len(users), 'spans': len(spans),
          'requests': config.num_days * config.requests_per_day, 'event_rows': event_rows}
