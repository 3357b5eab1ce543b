"""Simulated shops shaped like the real logs the default shop is not: `generate.profile`.

The default shop (simulator.py) logs everything: users, positions, prices, brands, clean
category-word queries. Real shops' logs often have much less, and the product must hold up on
them. These profiles write the same data contract with the shapes seen in real logs:

`search_graded`: product search with editorial judgments. No users, positions, prices, brands
  or categories: the catalog is item ids and titles. A long-tailed catalog (most products are
  judged once, so an item id says nothing), titles in the style of a hardware store's
  ("Kavomi 1-gal. Semi-Gloss Interior Paint Model KX-204"), compound product types that share
  words with other types ("paint sprayer" is not "paint"), units and model numbers, and
  queries with typos, plurals and unit spellings ("1 gallon", "1-gal"). Each query's candidates
  are a judged pool (mostly plausible products), each (query, product) with a graded gain 1-3.
  True relevance: the product type (its head noun) matters most, then the other words of the
  type, the queried attribute and unit (a different size of the same unit is worse than no
  size), and a latent product quality; the judges see it with noise.

`sessions`: session recommendation over a category-only catalog (no titles, brands, prices,
  queries or positions). Each request is one user session; its log holds only the items the
  user touched (click 1, add to cart 2, purchase 3), so the join samples catalog negatives.
  What predicts a session: the user's long-run category taste, the categories of their most
  recent sessions (interests drift, so recency beats counts), and item-to-item complements
  (after a drill, drill bits): structure a user-category affinity count cannot see, and a
  sequence model of the history items can.

Both write truth/utility.parquet only where the true ranking target is meaningful: the search
profile's true relevance before judge noise. The session profile writes none, since an oracle
there would know which items were touched.
"""
from typing import Dict, List, Tuple

import numpy as np
import pandas as pd

from recfusion.data.profile_names import PROFILES  # pylint: disable=unused-import
from recfusion.data.simulator import START_EPOCH, _SYLLABLES

# Product types as (modifier words, head noun); a type's head decides what it is.
PRODUCT_TYPES: Tuple[Tuple[str, str], ...] = (
    ('', 'paint'), ('paint', 'sprayer'), ('paint', 'roller'), ('paint', 'brush'),
    ('', 'primer'), ('wood', 'stain'), ('', 'faucet'), ('faucet', 'handle'),
    ('kitchen', 'sink'), ('', 'toilet'), ('toilet', 'seat'), ('', 'drill'),
    ('drill', 'bit'), ('circular', 'saw'), ('saw', 'blade'), ('', 'sander'),
    ('', 'hammer'), ('wood', 'screw'), ('', 'nail'), ('', 'bolt'), ('electrical', 'wire'),
    ('extension', 'cord'), ('', 'outlet'), ('light', 'switch'), ('light', 'bulb'),
    ('ceiling', 'fan'), ('space', 'heater'), ('garden', 'hose'), ('hose', 'nozzle'),
    ('lawn', 'mower'), ('string', 'trimmer'), ('', 'shovel'), ('', 'ladder'),
    ('wall', 'shelf'), ('', 'cabinet'), ('floor', 'tile'), ('tile', 'grout'), ('', 'caulk'),
    ('duct', 'tape'), ('door', 'lock'), ('door', 'hinge'), ('cabinet', 'handle'),
    ('ball', 'valve'), ('copper', 'pipe'), ('pvc', 'pipe'), ('pipe', 'fitting'),
)
ATTRIBUTES = ('white', 'black', 'brushed nickel', 'chrome', 'stainless steel', 'oak',
              'cordless', 'outdoor', 'indoor', 'led', 'galvanized', 'heavy duty',
              'waterproof', 'semi-gloss', 'matte', 'interior', 'exterior', 'adjustable',
              'brass', 'bronze')
# Units by kind: one spelling in titles, the ways shoppers type it in queries.
UNITS: Dict[str, Tuple[Tuple[str, Tuple[str, ...]], ...]] = {
    'volume': (('1-gal.', ('1 gal', '1 gallon', '1-gal')),
               ('5-gal.', ('5 gal', '5 gallon', '5-gal')),
               ('1-qt.', ('1 qt', 'quart'))),
    'gauge': (('12-gauge', ('12 gauge', '12-gauge', '12 awg')),
              ('14-gauge', ('14 gauge', '14-gauge', '14 awg'))),
    'size': (('1/2 in.', ('1/2 in', '1/2 inch')), ('3/4 in.', ('3/4 in', '3/4 inch')),
             ('2 in.', ('2 in', '2 inch'))),
    'length': (('25 ft.', ('25 ft', '25 foot')), ('50 ft.', ('50 ft', '50 foot')),
               ('100 ft.', ('100 ft', '100 foot'))),
    'power': (('20-volt', ('20v', '20 volt')), ('60-watt', ('60w', '60 watt'))),
}
UNIT_KIND_OF_HEAD = {
    'paint': 'volume', 'primer': 'volume', 'stain': 'volume', 'caulk': 'volume',
    'grout': 'volume', 'wire': 'gauge', 'cord': 'length', 'hose': 'length', 'tape': 'length',
    'pipe': 'size', 'fitting': 'size', 'valve': 'size', 'bit': 'size', 'screw': 'size',
    'nail': 'size', 'bolt': 'size', 'drill': 'power', 'sander': 'power', 'saw': 'power',
    'trimmer': 'power', 'mower': 'power', 'bulb': 'power', 'fan': 'power', 'heater': 'power',
}
# What shoppers type instead of the catalog's word: only a model that learns from the judgments
# (or from co-occurrence) connects them; BM25 cannot.
SYNONYMS = {'faucet': 'tap', 'drill': 'driver', 'mower': 'lawnmower', 'heater': 'warmer',
            'cabinet': 'cupboard', 'hose': 'tubing', 'bulb': 'lamp', 'outlet': 'receptacle',
            'sink': 'basin', 'shelf': 'rack', 'trimmer': 'weedeater', 'caulk': 'sealant',
            'toilet': 'commode', 'ladder': 'stepladder', 'sander': 'polisher'}
SYNONYM_SHARE = 0.35
W_HEAD, W_MODIFIER, W_ATTRIBUTE, W_UNIT, W_UNIT_MISMATCH, W_QUALITY = 2.0, 0.8, 0.7, 0.8, 0.9, 0.4
JUDGE_NOISE = 0.45
GAIN_CUTS = (1.2, 2.4)  # relevance below the first is gain 1, above the second gain 3
TYPO_SHARE = 0.2        # queries with one mistyped word


def _brand_names(rng: np.random.Generator, count: int) -> List[str]:
  return [''.join(rng.choice(_SYLLABLES, size=3)).capitalize() for _ in range(count)]


def _typo(word: str, rng: np.random.Generator) -> str:
  if len(word) < 4 or not word.isalpha():
    return word
  i = int(rng.integers(1, len(word) - 2))  # the first and last letters stay, as people type
  edit = rng.integers(3)
  if edit == 0:  # swapped neighbours
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]
  if edit == 1:  # dropped letter
    return word[:i] + word[i + 1:]
  return word[:i] + word[i] + word[i:]  # doubled letter


class _SearchCatalog:
  """The products of the search profile and their latent parts."""

  def __init__(self, num_items: int, rng: np.random.Generator):
    brands = _brand_names(rng, 60)
    self.type = rng.integers(len(PRODUCT_TYPES), size=num_items)
    self.attribute = rng.integers(len(ATTRIBUTES), size=num_items)
    self.second_attribute = np.where(rng.random(num_items) < 0.4,
                                     rng.integers(len(ATTRIBUTES), size=num_items), -1)
    self.quality = rng.normal(size=num_items)
    self.unit = np.full(num_items, -1)
    titles = []
    for i in range(num_items):
      modifier, head = PRODUCT_TYPES[self.type[i]]
      kind = UNIT_KIND_OF_HEAD.get(head)
      words = [str(rng.choice(brands))]
      if kind and rng.random() < 0.8:
        self.unit[i] = rng.integers(len(UNITS[kind]))
        words.append(UNITS[kind][self.unit[i]][0])
      words.append(ATTRIBUTES[self.attribute[i]].title())
      if self.second_attribute[i] >= 0:
        words.append(ATTRIBUTES[self.second_attribute[i]].title())
      words.append(f'{modifier} {head}'.strip().title())
      words.append(f'Model {rng.choice(list("ABCDEFGHKMRSTX"))}{rng.choice(list("XJKLMP"))}-'
                   f'{rng.integers(100, 999)}')
      titles.append(' '.join(words))
    self.titles = titles
    self.by_type = [np.flatnonzero(self.type == t) for t in range(len(PRODUCT_TYPES))]
    heads = [head for _, head in PRODUCT_TYPES]
    # Types that share a word with type t: the look-alikes a lexical match confuses with it.
    self.related_types = [
        [u for u in range(len(PRODUCT_TYPES)) if u != t and
         set(' '.join(PRODUCT_TYPES[u]).split()) & set(' '.join(PRODUCT_TYPES[t]).split())]
        for t in range(len(PRODUCT_TYPES))]
    self.heads = heads
    self.by_attribute = [np.flatnonzero(self.attribute == a) for a in range(len(ATTRIBUTES))]

  def relevance(self, query_type: int, query_attribute: int, query_unit: int,
                items: np.ndarray) -> np.ndarray:
    q_modifier, q_head = PRODUCT_TYPES[query_type]
    item_types = self.type[items]
    head = np.array([self.heads[t] == q_head for t in item_types], dtype=float)
    modifier = np.array([bool(q_modifier) and q_modifier in PRODUCT_TYPES[t][0].split() + [
        PRODUCT_TYPES[t][1]] for t in item_types], dtype=float) if q_modifier else np.zeros(
            len(items))
    attribute = np.zeros(len(items))
    if query_attribute >= 0:
      attribute = ((self.attribute[items] == query_attribute) |
                   (self.second_attribute[items] == query_attribute)).astype(float)
    unit = np.zeros(len(items))
    if query_unit >= 0:
      same_type = item_types == query_type
      unit = np.where(same_type & (self.unit[items] == query_unit), W_UNIT,
                      np.where(same_type & (self.unit[items] >= 0), -W_UNIT_MISMATCH, 0.0))
    return (W_HEAD * head + W_MODIFIER * modifier + W_ATTRIBUTE * attribute + unit
            + W_QUALITY * self.quality[items])


def simulate_search_graded(config):
  """Returns (catalog, users, {span: events}, truth) for the `search_graded` profile."""
  rng = np.random.default_rng([config.seed, 10])
  shop = _SearchCatalog(config.num_items, rng)
  pool_size = config.impressions_per_request
  spans, truth_rows, counter = {}, [], 0
  for day in range(config.num_days):
    rows = []
    for t in np.sort(rng.integers(0, 86400, size=config.requests_per_day)):
      request_id = f'q-{counter:07d}'
      counter += 1
      query_type = int(rng.integers(len(PRODUCT_TYPES)))
      modifier, head = PRODUCT_TYPES[query_type]
      typed_head = SYNONYMS[head] if head in SYNONYMS and rng.random() < SYNONYM_SHARE else head
      words = ([modifier] if modifier and rng.random() < 0.85 else []) + [
          typed_head + 's' if rng.random() < 0.2 else typed_head]
      query_attribute = -1
      if rng.random() < 0.45:
        query_attribute = int(rng.integers(len(ATTRIBUTES)))
        words.insert(0, ATTRIBUTES[query_attribute])
      query_unit, kind = -1, UNIT_KIND_OF_HEAD.get(head)
      if kind and rng.random() < 0.4:
        query_unit = int(rng.integers(len(UNITS[kind])))
        words.insert(0, str(rng.choice(UNITS[kind][query_unit][1])))
      words = ' '.join(words).split()
      if rng.random() < TYPO_SHARE:
        k = int(rng.integers(len(words)))
        words[k] = _typo(words[k], rng)
      query = ' '.join(words)
      # The judged pool: what a search engine retrieved for the query. Mostly the right type,
      # then look-alike types, products with the queried attribute, and a few random ones.
      n_same = int(round(pool_size * 0.6))
      n_related = int(round(pool_size * 0.25))
      n_attribute = int(round(pool_size * 0.1)) if query_attribute >= 0 else 0
      parts = [rng.choice(shop.by_type[query_type], size=min(n_same, len(
          shop.by_type[query_type])), replace=False)]
      related = [i for u in shop.related_types[query_type] for i in shop.by_type[u]]
      if related:
        parts.append(rng.choice(related, size=min(n_related, len(related)), replace=False))
      if n_attribute:
        pool_attr = shop.by_attribute[query_attribute]
        parts.append(rng.choice(pool_attr, size=min(n_attribute, len(pool_attr)),
                                replace=False))
      pool = np.unique(np.concatenate(parts)).astype(int)
      missing = pool_size - len(pool)
      if missing > 0:
        pool = np.unique(np.concatenate([pool, rng.choice(config.num_items, size=missing,
                                                          replace=False)]))
      relevance = shop.relevance(query_type, query_attribute, query_unit, pool)
      judged = relevance + rng.normal(scale=JUDGE_NOISE, size=len(pool))
      gains = 1 + (judged >= GAIN_CUTS[0]).astype(int) + (judged >= GAIN_CUTS[1]).astype(int)
      timestamp = START_EPOCH + day * 86400 + int(t)
      for item, gain, true_relevance in zip(pool, gains, relevance):
        item_id = f'p-{item:06d}'
        rows.append((request_id, timestamp, query, item_id, 'impression', float(gain)))
        truth_rows.append((request_id, item_id, float(true_relevance)))
    spans[day] = pd.DataFrame(rows, columns=['request_id', 'timestamp', 'query', 'item_id',
                                             'event', 'gain'])
  catalog = pd.DataFrame({'item_id': [f'p-{i:06d}' for i in range(config.num_items)],
                          'title': shop.titles})
  truth = pd.DataFrame(truth_rows, columns=['request_id', 'item_id', 'utility'])
  return catalog, None, spans, truth


NUM_SESSION_CATEGORIES = 60
COMPLEMENTS_PER_ITEM = 3
CONTINUE_SHARE = 0.45     # a session that continues the categories of the user's last one
COMPLEMENT_SHARE = 0.3    # a touched item that complements one of the last session's items
SESSION_TASTE_CONCENTRATION = 0.15


def simulate_sessions(config):
  """Returns (catalog, users, {span: events}, truth) for the `sessions` profile."""
  rng = np.random.default_rng([config.seed, 20])
  n_items, n_users = config.num_items, config.num_users
  n_cat = min(NUM_SESSION_CATEGORIES, n_items)
  category = rng.permutation(np.arange(n_items) % n_cat)  # no category left empty
  popularity = rng.pareto(1.2, size=n_items) + 1.0
  by_category = [np.flatnonzero(category == c) for c in range(n_cat)]
  within = [popularity[items] / popularity[items].sum() for items in by_category]
  complements = rng.integers(n_items, size=(n_items, COMPLEMENTS_PER_ITEM))
  taste = rng.dirichlet(np.full(n_cat, SESSION_TASTE_CONCENTRATION), size=n_users)
  activity = rng.pareto(1.5, size=n_users) + 1.0
  activity /= activity.sum()
  last_session: Dict[int, List[int]] = {}
  spans, counter = {}, 0
  for day in range(config.num_days):
    rows = []
    for t in np.sort(rng.integers(0, 86400 - 3600, size=config.requests_per_day)):
      user = int(rng.choice(n_users, p=activity))
      previous = last_session.get(user, [])
      if previous and rng.random() < CONTINUE_SHARE:
        focus = int(category[rng.choice(previous)])
      else:
        focus = int(rng.choice(n_cat, p=taste[user]))
      touched: List[int] = []
      for _ in range(int(rng.integers(1, 6))):
        if previous and rng.random() < COMPLEMENT_SHARE:
          item = int(rng.choice(complements[rng.choice(previous)]))
        else:
          item = int(rng.choice(by_category[focus], p=within[focus]))
        if item not in touched:
          touched.append(item)
      request_id = f's-{counter:07d}'
      counter += 1
      timestamp = START_EPOCH + day * 86400 + int(t)
      for k, item in enumerate(touched):
        events = ['click']
        if rng.random() < 0.3:
          events.append('add_to_cart')
          if rng.random() < 0.4:
            events.append('purchase')
        for delay, event in enumerate(events):
          rows.append((request_id, timestamp + 10 * k + delay, f'u-{user:05d}',
                       f'i-{item:05d}', event))
      last_session[user] = touched
    spans[day] = pd.DataFrame(rows, columns=['request_id', 'timestamp', 'user_id', 'item_id',
                                             'event'])
  catalog = pd.DataFrame({'item_id': [f'i-{i:05d}' for i in range(n_items)],
                          'category': [f'cat-{c:02d}' for c in category]})
  users = pd.DataFrame({'user_id': [f'u-{u:05d}' for u in range(n_users)]})
  return catalog, users, spans, None
