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


def _outputs_request(gains, scores_by_output, weight=None):
  """One request whose model has several outputs (the fused score and each ranker's)."""
  extracts = {'labels': {name: np.asarray(gains, np.float32) for name in scores_by_output},
              'predictions': {name: np.asarray(scores, np.float32)
                              for name, scores in scores_by_output.items()},
              'features': {'gain': np.asarray(gains, np.float32),
                           'request_id': np.array([b'r'] * len(gains))}}
  if weight is not None:
    extracts['example_weights'] = {name: np.full(len(gains), weight, np.float32)
                                   for name in scores_by_output}
  return requests.mark_whole_request(extracts)


def test_unweighted_one_computation_gives_each_output_the_value_it_has_alone():
  random = np.random.default_rng(11)
  outputs = ['dcn', 'text', 'gbt']
  by_output = {name: [] for name in outputs}
  together = []
  for size in [1, 3, 8, 12, 20, 31] * 3:
    gains = random.choice([0.0, 0.0, 1.0, 3.0], size=size)
    scores = {name: np.round(random.normal(size=size), 1) for name in outputs}
    together.append(_outputs_request(gains, scores))
    for name in outputs:
      by_output[name].append(_request(gains, scores[name]))
  together.append(_outputs_request([0.0, 0.0], {name: [0.2, 0.1] for name in outputs}))
  computation, = ndcg.RequestNDCG(gain_key='gain', top_k_list=[1, 10]).computations(
      output_names=outputs)
  result = metric_test_util.compute(computation, together)
  assert [key.output_name for key in computation.keys] == ['dcn', 'dcn', 'text', 'text',
                                                           'gbt', 'gbt']
  for name in outputs:
    alone = _ours(by_output[name], top_ks=[1, 10])
    assert [result[key] for key in computation.keys if key.output_name == name] == alone


def test_example_weighted_each_output_keeps_a_computation_of_its_own():
  computations = ndcg.RequestNDCG(gain_key='gain', top_k_list=[10]).computations(
      output_names=['dcn', 'text'], example_weighted=True)
  assert [[key.output_name for key in c.keys] for c in computations] == [['dcn'], ['text']]
  request = _outputs_request([1.0, 0.0], {'dcn': [0.1, 0.9], 'text': [0.9, 0.1]}, weight=2.0)
  values = [metric_test_util.compute(c, [request])[c.keys[0]] for c in computations]
  assert values == pytest.approx([1 / math.log2(3), 1.0])


def test_outputs_with_different_candidate_counts_are_refused_naming_both():
  request = _outputs_request([1.0, 0.0], {'dcn': [0.1, 0.9], 'text': [0.9, 0.1]})
  request['predictions']['text'] = np.array([0.5], np.float32)
  request['labels']['text'] = np.array([1.0], np.float32)
  computation, = ndcg.RequestNDCG(gain_key='gain', top_k_list=[10]).computations(
      output_names=['dcn', 'text'])
  with pytest.raises(ValueError, match='text has 1 predictions where dcn has 2'):
    metric_test_util.compute(computation, [request])


def test_ndcg_of_each_output_is_ndcg_at_of_each_alone():
  gains = np.array([0.0, 3.0, 1.0, 0.0, 2.0], np.float32)
  first, second = np.array([0.5, 0.1, 0.9, 0.3, 0.2]), np.array([0.0, 0.8, 0.4, 0.1, 0.9])
  top_ks = np.array([1, 3, 10])
  both = ndcg.ndcg_of_each(gains, [first, second], top_ks)
  assert both.tolist() == (ndcg.ndcg_at(gains, first, top_ks).tolist()
                           + ndcg.ndcg_at(gains, second, top_ks).tolist())
