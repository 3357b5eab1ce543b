"""What shoppers see beside how well it is ordered: diversity, coverage and novelty of the top
k, as one TFMA 0.47 metric over requests (the pattern of mrr.py: a Beam CombineFn that sees one
whole request per input).

Per request, the top k candidates by score (ties broken by item id, so a constant score gives
the same list on every run):

* `category_diversity@k`, `brand_diversity@k`: intra-list diversity, the share of pairs of
  top-k items whose category (brand) differs, averaged over requests with at least 2 items;
* `coverage@k`: distinct items shown in any top k over distinct candidate items of the eval
  set (the catalog the eval requests could show);
* `popular_share@k`: the share of top-k slots taken by the most popular 1% of those items
  (at least one item), popularity being engagements (gain > 0) in the eval set;
* `novelty@k`: the mean over top-k slots of -log2 of the item's share of engagements
  (add-one smoothed over the eval items, so an item nobody engaged with is the most novel).

Coverage, popularity and novelty are over the whole eval set, not per request, so the
accumulator counts items; merging counts keeps TFMA's jackknife intervals valid.
"""
import collections
import heapq
import math
from typing import AbstractSet, Dict, Iterable, List, NamedTuple, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.proto import config_pb2

from recfusion.evaluation import requests
from recfusion.models import saved_models

saved_models.register_ops()  # see mrr.py: Beam workers import this before loading the model

DIVERSITY_NAME = 'diversity'
METRICS = ('category_diversity', 'brand_diversity', 'coverage', 'popular_share', 'novelty')
ITEM_KEY, CATEGORY_KEY, BRAND_KEY = 'item_id', 'category', 'brand'


class Diversity(metric_types.Metric):
  """The five numbers above for one top k; each input one request (see mrr.py)."""

  def __init__(self, name: str = DIVERSITY_NAME, top_k: int = 10,
               popular_fraction: float = 0.01):
    super().__init__(_diversity, name=name, top_k=top_k, popular_fraction=popular_fraction)


metric_types.register_metric(Diversity)


def metric_key(metric: str, top_k: int, model_name: str = '', output_name: str = '',
               example_weighted: bool = False) -> metric_types.MetricKey:
  return metric_types.MetricKey(name=metric, model_name=model_name, output_name=output_name,
                                sub_key=metric_types.SubKey(top_k=top_k),
                                example_weighted=example_weighted)


def _diversity(name: str = DIVERSITY_NAME, top_k: int = 10, popular_fraction: float = 0.01,
               eval_config: Optional[config_pb2.EvalConfig] = None,
               model_names: Optional[List[str]] = None,
               output_names: Optional[List[str]] = None,
               example_weighted: bool = False,
               query_key: str = '') -> metric_types.MetricComputations:
  del name  # the five metrics carry their own names
  computations = []
  for model_name in model_names or ['']:
    for output_name in output_names or ['']:
      metric_keys = {metric: metric_key(metric, top_k, model_name, output_name,
                                        example_weighted) for metric in METRICS}
      computations.append(metric_types.MetricComputation(
          keys=list(metric_keys.values()),
          preprocessors=[requests.RequestPreprocessor(
              f'{DIVERSITY_NAME}@{top_k}', _TopK(top_k), eval_config, model_name, output_name,
              example_weighted, feature_keys=[ITEM_KEY, CATEGORY_KEY, BRAND_KEY],
              grouped_by_query_key=bool(query_key))],
          combiner=_DiversityCombiner(metric_keys, top_k, popular_fraction)))
  return computations


def intra_list_diversity(values: List[str]) -> float:
  """The share of pairs of `values` that differ (NaN for fewer than 2)."""
  n = len(values)
  if n < 2:
    return float('nan')
  same = sum(c * (c - 1) for c in collections.Counter(values).values())
  return 1.0 - same / (n * (n - 1))


class _Accumulator:
  __slots__ = ['category_sum', 'brand_sum', 'lists', 'shown', 'candidates', 'engaged']

  def __init__(self):
    self.category_sum = 0.0
    self.brand_sum = 0.0
    self.lists = 0  # requests with at least 2 items in their top k
    self.shown = collections.Counter()  # item: top-k slots
    self.candidates = set()
    self.engaged = collections.Counter()  # item: engaged candidates


def _strings(values: np.ndarray) -> List[str]:
  return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


class _RequestTopK(NamedTuple):
  category_diversity: Optional[float]  # None with fewer than 2 items in the top k
  brand_diversity: Optional[float]
  shown: List[str]  # the top-k items
  candidates: List[str]
  engaged: List[str]  # candidates with gain > 0


class _TopK:
  """One request's top k by score (ties broken by item id) and what the metrics need of it."""

  def __init__(self, top_k: int):
    self._top_k = top_k

  def __call__(self, request: requests.RequestInputs) -> _RequestTopK:
    items = _strings(request.features[ITEM_KEY])
    categories = _strings(request.features[CATEGORY_KEY])
    brands = _strings(request.features[BRAND_KEY])
    scores = request.predictions
    top = sorted(range(len(items)), key=lambda i: (-scores[i], items[i]))[:self._top_k]
    lists = len(top) >= 2
    return _RequestTopK(
        intra_list_diversity([categories[i] for i in top]) if lists else None,
        intra_list_diversity([brands[i] for i in top]) if lists else None,
        [items[i] for i in top], items,
        [item for item, label in zip(items, request.labels) if label > 0])


def most_engaged(engaged: collections.Counter, items: AbstractSet[str], count: int) -> List[str]:
  """The `count` items of `items` with the most engagements, ties by item id: the first
  `count` of `items` sorted by (-engagements, item). Items engaged at least once come first,
  so only those are ranked by count, and the rest (engaged by nobody) by id alone."""
  popular = [item for item, _ in heapq.nsmallest(
      count, ((item, n) for item, n in engaged.items() if n > 0 and item in items),
      key=lambda pair: (-pair[1], pair[0]))]
  if len(popular) < count:
    popular += heapq.nsmallest(count - len(popular),
                               (item for item in items if engaged[item] <= 0))
  return popular


class _DiversityCombiner(beam.CombineFn):

  def __init__(self, metric_keys: Dict[str, metric_types.MetricKey], top_k: int,
               popular_fraction: float):
    self._keys = metric_keys
    self._top_k = top_k
    self._popular_fraction = popular_fraction

  def create_accumulator(self) -> _Accumulator:
    return _Accumulator()

  def add_input(self, accumulator: _Accumulator, request: _RequestTopK) -> _Accumulator:
    if request.category_diversity is not None:
      accumulator.category_sum += request.category_diversity
      accumulator.brand_sum += request.brand_diversity
      accumulator.lists += 1
    accumulator.shown.update(request.shown)
    accumulator.candidates.update(request.candidates)
    accumulator.engaged.update(request.engaged)
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[_Accumulator]) -> _Accumulator:
    # A new accumulator: under the jackknife one partition's is an input of many merges.
    accumulators = list(accumulators)
    result = _Accumulator()
    for accumulator in accumulators:
      result.category_sum += accumulator.category_sum
      result.brand_sum += accumulator.brand_sum
      result.lists += accumulator.lists
    # Counter.update copies a mapping into an empty Counter in C but adds to a non-empty one
    # item by item in Python: the largest first (counts add up the same in any order).
    for accumulator in sorted(accumulators, key=lambda a: len(a.shown) + len(a.engaged),
                              reverse=True):
      result.shown.update(accumulator.shown)
      result.candidates.update(accumulator.candidates)
      result.engaged.update(accumulator.engaged)
    return result

  def extract_output(self, accumulator: _Accumulator) -> Dict[metric_types.MetricKey, float]:
    values = dict.fromkeys(METRICS, float('nan'))
    if accumulator.lists:
      values['category_diversity'] = accumulator.category_sum / accumulator.lists
      values['brand_diversity'] = accumulator.brand_sum / accumulator.lists
    slots = sum(accumulator.shown.values())
    if slots:
      items = accumulator.candidates
      values['coverage'] = len(accumulator.shown) / len(items)
      popular_count = max(1, math.floor(self._popular_fraction * len(items)))
      popular = most_engaged(accumulator.engaged, items, popular_count)
      values['popular_share'] = sum(accumulator.shown[item] for item in popular) / slots
      engagements = sum(accumulator.engaged.values()) + len(items)
      shown = np.fromiter(accumulator.shown.values(), np.float64, len(accumulator.shown))
      engaged = np.fromiter(map(accumulator.engaged.__getitem__, accumulator.shown),
                            np.float64, len(accumulator.shown))
      values['novelty'] = float(shown @ -np.log2((engaged + 1) / engagements)) / slots
    return {self._keys[metric]: value for metric, value in values.items()}
