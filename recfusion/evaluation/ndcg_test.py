"""RequestNDCG against TFMA's own NDCG combiner on the same requests, plus hand-checked values."""
import math

import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.metrics import ndcg as tfma_ndcg

from recfusion.evaluation import metric_test_util, ndcg, requests

TOP_KS = [1, 2, 3, 5, 10, 20]


def _request(gains, scores, weight=None):
  """One request's extracts as the Evaluator's extractors hand them to TFMA."""
  extracts = {'labels': np.asarray(gains, np.float32),
              'predictions': np.asarray(scores, np.float32),
              'features': {'gain': np.asarray(gains, np.float32),
                           'request_id': np.array([b'r'] * len(gains))}}
  if weight is not None:
    extracts['example_weights'] = np.full(len(gains), weight, np.float32)
  return requests.mark_whole_request(extracts)


def _ours(requests, top_ks=TOP_KS, example_weighted=False):
  computation, = ndcg.RequestNDCG(gain_key='gain', top_k_list=top_ks).computations(
      example_weighted=example_weighted)
  result = metric_test_util.compute(computation, requests)
  return [result[key] for key in computation.keys]


def _tfma(requests, top_ks=TOP_KS, example_weighted=False):
  computation, = tfma_ndcg.NDCG(gain_key='gain', top_k_list=top_ks).computations(
      query_key='request_id', example_weighted=example_weighted, sub_keys=[])
  combiner = computation.combiner
  accumulator = combiner.create_accumulator()
  for request in requests:
    accumulator = combiner.add_input(accumulator, metric_util.to_standard_metric_inputs(
        request, include_features=True))
  result = combiner.extract_output(accumulator)
  return [result[key] for key in computation.keys]


def test_hand_checked_ndcg_at_1_and_2():
  # Ranked gains 0, 2 (ideal 2, 0): DCG@2 = 2 / log2(3); NDCG@1 = 0.
  values = _ours([_request([2.0, 0.0], [0.1, 0.9])], top_ks=[1, 2])
  assert values == pytest.approx([0.0, 1 / math.log2(3)])


def test_equal_to_tfma_on_random_requests_with_ties_zero_gain_and_short_lists():
  random = np.random.default_rng(7)
  requests = []
  for size in [1, 2, 3, 7, 8, 9, 15, 25, 40] * 4:
    gains = random.choice([0.0, 0.0, 1.0, 2.0, 3.0], size=size)
    scores = np.round(random.normal(size=size), 1)  # rounded: ties
    requests.append(_request(gains, scores))
  requests.append(_request([0.0, 0.0, 0.0], [0.3, 0.2, 0.1]))  # nothing to rank: weight 0
  assert _ours(requests) == pytest.approx(_tfma(requests), rel=1e-12)


def test_example_weights_weigh_each_request_as_tfma():
  requests = [_request([1.0, 0.0], [0.1, 0.9], weight=3.0),
              _request([0.0, 2.0], [0.1, 0.9], weight=1.0)]
  assert _ours(requests, example_weighted=True) == pytest.approx(
      _tfma(requests, example_weighted=True), rel=1e-12)
  assert _ours(requests, example_weighted=True) != pytest.approx(_ours(requests))


def test_without_a_request_to_rank_the_value_is_nan():
  assert all(math.isnan(v) for v in _ours([_request([0.0], [1.0])], top_ks=[10]))


def test_top_k_values_are_required_and_positive():
  with pytest.raises(ValueError, match='top k values of at least 1'):
    ndcg.RequestNDCG(gain_key='gain').computations()
  with pytest.raises(ValueError, match='top k values of at least 1 .*, got \\[0\\]'):
    ndcg.RequestNDCG(gain_key='gain', top_k_list=[0]).computations()


def test_keys_are_tfma_ndcg_keys_so_thresholds_and_the_report_read_them():
  computation, = ndcg.RequestNDCG(gain_key='gain').computations(
      model_names=['candidate'], output_names=['score'],
      sub_keys=[metric_types.SubKey(top_k=10)])
  assert computation.keys == [metric_types.MetricKey(
      'ndcg', model_name='candidate', output_name='score', sub_key=metric_types.SubKey(top_k=10))]


def test_a_request_without_its_gain_feature_is_refused_naming_it():
  request = _request([1.0], [0.5])
  del request['features']['gain']
  with pytest.raises(ValueError, match="no 'gain' feature"):
    _ours([request])


def test_single_candidates_are_refused():
  candidate = {k: v for k, v in _request([1.0], [0.5]).items() if k != requests.WHOLE_REQUEST_KEY}
  with pytest.raises(ValueError, match='ndcg@1,2,3,5,10,20 needs one extract per request'):
    _ours([candidate])
