"""The join logic of LogJoinExampleGen, free of Beam so that it can be tested on tiny inputs.

A request's events become one record; a user's records, in time order, give each request the
items the user engaged with strictly earlier (no leakage); each record becomes one tf.Example
per candidate item, with catalog negatives added when the log kept no impressions.
"""
import dataclasses
import zlib
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf


# One logged event as the reader emits it: small tuples keep Beam's pickling cheap.
Event = Tuple[int, str, str, str, int, float, str, int]  # ts, user, query, item, pos, gain, event, span


@dataclasses.dataclass
class Candidate:
  item_id: str
  gain: float
  position: int  # -1: unknown (no impression logged, or a sampled negative)


@dataclasses.dataclass
class Request:
  request_id: str
  user_id: str
  query: str
  timestamp: int
  span: int
  candidates: List[Candidate]
  has_impressions: bool

  @property
  def request_type(self) -> str:
    return 'search' if self.query else 'recommend'

  @property
  def history_key(self) -> str:
    # Anonymous requests have no history: each gets a key of its own.
    return f'user:{self.user_id}' if self.user_id else f'anonymous:{self.request_id}'

  def engaged_items(self) -> List[str]:
    return [c.item_id for c in self.candidates if c.gain > 0]


def summarize_request(request_id: str, events: Iterable[Event]) -> Request:
  """Folds one request's events: label = max gain, position = first logged position."""
  events = sorted(events)
  first = events[0]
  user_id = next((e[1] for e in events if e[1]), '')
  query = next((e[2] for e in events if e[2]), '')
  by_item: Dict[str, Candidate] = {}
  has_impressions = False
  for _, _, _, item_id, position, gain, event, _ in events:
    has_impressions |= event == 'impression'
    candidate = by_item.setdefault(item_id, Candidate(item_id, 0.0, -1))
    candidate.gain = max(candidate.gain, gain)
    if candidate.position < 0 <= position:
      candidate.position = position
  return Request(request_id=request_id, user_id=user_id, query=query, timestamp=first[0],
                 span=min(e[7] for e in events),
                 candidates=sorted(by_item.values(), key=lambda c: (c.position < 0,
                                                                    c.position, c.item_id)),
                 has_impressions=has_impressions)


def attach_histories(requests: Iterable[Request], history_max: int
                     ) -> Iterable[Tuple[Request, List[str]]]:
  """Pairs each of one user's requests with the items engaged in strictly earlier requests.

  Most recent first, each item once. Requests at the same second see none of each other's
  engagement: neither happened strictly before the other.
  """
  ordered = sorted(requests, key=lambda r: (r.timestamp, r.request_id))
  history: List[str] = []  # oldest first
  i = 0
  while i < len(ordered):
    j = i
    while j < len(ordered) and ordered[j].timestamp == ordered[i].timestamp:
      j += 1
    snapshot = most_recent_unique(history, history_max)
    for request in ordered[i:j]:
      yield request, snapshot
    for request in ordered[i:j]:
      history.extend(request.engaged_items())
    i = j


def most_recent_unique(history: Sequence[str], limit: int) -> List[str]:
  """Most recent first, each item once, at most `limit`: the history an example carries."""
  seen, out = set(), []
  for item in reversed(history):
    if len(out) >= limit:
      break
    if item not in seen:
      seen.add(item)
      out.append(item)
  return out


def _stable_seed(seed: int, key: str) -> int:
  return (seed * 1_000_003 + zlib.crc32(key.encode())) & 0xFFFFFFFF


def sample_negatives(request: Request, catalog_ids: Sequence[str], count: int,
                     seed: int) -> List[Candidate]:
  """`count` catalog items the request did not log, seeded by the request id (reproducible)."""
  logged = {c.item_id for c in request.candidates}
  # Logged items are catalog items (the contract rejects or skips the others), so this needs no
  # set of the whole catalog per request; and it never exceeds what is really left to draw.
  count = min(count, len(catalog_ids) - len(logged))
  if count <= 0:
    return []
  rng = np.random.default_rng(_stable_seed(seed, request.request_id))
  chosen: List[Candidate] = []
  picked = set()
  while len(chosen) < count:
    for index in rng.choice(len(catalog_ids), size=count, replace=False):
      item = catalog_ids[index]
      if item not in logged and item not in picked and len(chosen) < count:
        picked.add(item)
        chosen.append(Candidate(item, 0.0, -1))
  return chosen


@dataclasses.dataclass(frozen=True)
class SplitRule:
  """Time fractions (`boundaries` = train/validation and validation/eval cut times) or spans."""
  boundaries: Optional[Tuple[int, int]] = None
  span_to_split: Optional[Mapping[int, str]] = None

  def split_of(self, request: Request) -> Optional[str]:
    if self.span_to_split is not None:
      return self.span_to_split.get(request.span)
    first_cut, second_cut = self.boundaries
    if request.timestamp < first_cut:
      return 'train'
    if request.timestamp < second_cut:
      return 'validation'
    return 'eval'


def time_boundaries(first_timestamp: int, last_timestamp: int,
                    fractions: Mapping[str, float]) -> Tuple[int, int]:
  """Cut times so that each split covers its fraction of [first, last] (inclusive)."""
  length = last_timestamp - first_timestamp + 1
  first_cut = first_timestamp + int(round(length * fractions['train']))
  second_cut = first_timestamp + int(round(length * (fractions['train'] +
                                                     fractions['validation'])))
  return first_cut, second_cut


@dataclasses.dataclass(frozen=True)
class CatalogItem:
  title: str
  category: str
  brand: str
  price: float


def _bytes(values: Sequence[str]) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))


def _ints(values: Sequence[int]) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _floats(values: Sequence[float]) -> tf.train.Feature:
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


HISTORY_BUCKETS = ((0, '0'), (2, '1-2'), (5, '3-5'), (10, '6-10'))


def history_bucket(length: int) -> str:
  """A request-level slice for model analysis: how much history the user brought."""
  for upper, name in HISTORY_BUCKETS:
    if length <= upper:
      return name
  return f'{HISTORY_BUCKETS[-1][0] + 1}+'


def build_examples(request: Request, history: Sequence[str],
                   catalog: Mapping[str, CatalogItem], segments: Mapping[str, str],
                   negatives: Sequence[Candidate] = ()) -> List[tf.train.Example]:
  """One tf.Example per candidate; features as in schemas/schema.pbtxt."""
  history_items = [catalog[i] for i in history if i in catalog]
  shared = {
      'request_id': _bytes([request.request_id]),
      'user_id': _bytes([request.user_id]),
      'user_segment': _bytes([segments.get(request.user_id, '')]),
      'query': _bytes([request.query]),
      'request_type': _bytes([request.request_type]),
      'timestamp': _ints([request.timestamp]),
      'span': _ints([request.span]),
      'history_item_ids': _bytes(history),
      'history_categories': _bytes([item.category for item in history_items]),
      'history_brands': _bytes([item.brand for item in history_items]),
      'history_prices': _floats([item.price for item in history_items]),
      'history_length': _ints([len(history)]),
      'history_bucket': _bytes([history_bucket(len(history))]),
  }
  examples = []
  for candidate in list(request.candidates) + list(negatives):
    item = catalog[candidate.item_id]
    features = dict(shared)
    features.update({
        'item_id': _bytes([candidate.item_id]),
        'title': _bytes([item.title]),
        'category': _bytes([item.category]),
        'brand': _bytes([item.brand]),
        'price': _floats([item.price]),
        'position': _ints([candidate.position]),
        'gain': _floats([candidate.gain]),
        'engaged': _ints([int(candidate.gain > 0)]),
    })
    examples.append(tf.train.Example(features=tf.train.Features(feature=features)))
  return examples
