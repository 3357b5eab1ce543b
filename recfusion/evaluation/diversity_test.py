"""Tests of the diversity metrics on tiny hand-checked requests, through Beam as TFMA runs
query metrics (see mrr_test.py)."""
import collections
import math

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing import util
from apache_beam.testing.test_pipeline import TestPipeline
from tensorflow_model_analysis.utils import util as tfma_util

from recfusion.evaluation import diversity, metric_test_util, requests


def _request(request_id, rows):
  """rows: (item_id, category, brand, label, prediction) per candidate."""
  return requests.mark_whole_request(tfma_util.merge_extracts([{
      'labels': np.array([label]), 'predictions': np.array([prediction]),
      'example_weights': np.array([1.0]),
      'features': {'request_id': np.array([request_id.encode()]),
                   'item_id': np.array([item.encode()]),
                   'category': np.array([category.encode()]),
                   'brand': np.array([brand.encode()])},
  } for item, category, brand, label, prediction in rows]))


def _assert_metrics(requests, top_k, expected):
  """Runs the Diversity combiner over `requests` in Beam; `expected`: {metric@k: value} for
  some of its five values (NaN matches NaN)."""
  computation, = diversity.Diversity(top_k=top_k).computations()
  with TestPipeline() as pipeline:
    result = (pipeline
              | 'Create' >> beam.Create(requests)
              | 'Preprocess' >> beam.FlatMap(metric_test_util.preprocess, computation)
              | 'AddSlice' >> beam.Map(lambda x: ((), x))
              | 'Combine' >> beam.CombinePerKey(computation.combiner))

    def check(output):
      try:
        (_, metrics), = output
        got = {f'{key.name}@{key.sub_key.top_k}': value for key, value in metrics.items()}
        assert len(got) == 5
        for name, value in expected.items():
          assert got[name] == pytest.approx(value, nan_ok=True), name
      except (AssertionError, KeyError, ValueError) as err:
        raise util.BeamAssertException(err)

    util.assert_that(result, check)


TWO_REQUESTS = [
    # top 2: a, b (same category, different brands)
    _request('q1', [('a', 'x', 'p', 1.0, 0.9), ('b', 'x', 'q', 0.0, 0.5),
                    ('c', 'y', 'q', 0.0, 0.1)]),
    # top 2: d, b (different categories, same brand)
    _request('q2', [('b', 'x', 'q', 0.0, 0.2), ('d', 'z', 'q', 1.0, 0.8)]),
]


def test_each_metric_on_two_hand_checked_requests():
  _assert_metrics(TWO_REQUESTS, 2, {
      'category_diversity@2': (0 + 1) / 2,
      'brand_diversity@2': (1 + 0) / 2,
      # a, b, d shown of the candidates a, b, c, d.
      'coverage@2': 3 / 4,
      # 1% of 4 items rounds to the one most engaged item: a and d tie at 1, a first by id.
      'popular_share@2': 1 / 4,
      # Engagement shares, add-one smoothed: (1+1)/(2+4) for a and d, (0+1)/6 for b, shown
      # twice.
      'novelty@2': (2 * math.log2(3) + 2 * math.log2(6)) / 4})


def test_ties_are_broken_by_item_id_so_a_constant_score_ranks_the_same_every_time():
  for order in (1, -1):
    rows = [('c', 'x', 'p', 0.0, 0.5), ('a', 'y', 'p', 0.0, 0.5), ('b', 'x', 'p', 1.0, 0.5)]
    # a (y) and b (x), in either input order
    _assert_metrics([_request('q1', rows[::order])], 2,
                    {'category_diversity@2': 1.0, 'coverage@2': 2 / 3})


def test_a_request_with_one_candidate_counts_for_coverage_not_for_diversity():
  _assert_metrics([_request('q1', [('a', 'x', 'p', 1.0, 0.9)])], 10, {
      'category_diversity@10': float('nan'), 'brand_diversity@10': float('nan'),
      'coverage@10': 1.0, 'popular_share@10': 1.0})


def test_intra_list_diversity_is_the_share_of_differing_pairs():
  assert diversity.intra_list_diversity(['x', 'x', 'y']) == pytest.approx(2 / 3)
  assert diversity.intra_list_diversity(['x', 'x']) == 0.0
  assert math.isnan(diversity.intra_list_diversity(['x']))


def test_a_request_without_brands_is_refused_naming_the_feature():
  request = _request('r1', [('a', 'x', 'p', 1.0, 0.9)])
  del request['features']['brand']
  computation, = diversity.Diversity().computations()
  with pytest.raises(ValueError, match="no 'brand' feature"):
    metric_test_util.compute(computation, [request])


def test_most_engaged_is_the_head_of_the_full_ranking():
  rng = np.random.default_rng(5)
  items = {f'item{i:03d}' for i in range(300)}
  engaged = collections.Counter({item: int(n) for item, n in zip(
      sorted(items), rng.integers(0, 4, len(items))) if n > 0})
  ranking = sorted(items, key=lambda item: (-engaged[item], item))
  for count in (1, 7, len(engaged), len(engaged) + 5, len(items)):
    assert diversity.most_engaged(engaged, items, count) == ranking[:count]
