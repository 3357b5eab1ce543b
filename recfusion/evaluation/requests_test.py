"""The direct read of one request's labels and predictions against TFMA's own reading."""
import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_util

from recfusion.evaluation import requests


def _two_models_two_outputs():
  """One request of three candidates as the Evaluator sees it with a baseline."""
  return {
      'labels': {model: {'score': np.array([3.0, 0.0, 1.0], np.float32),
                         'probability': np.array([1, 0, 1])}
                 for model in ('candidate', 'baseline')},
      'predictions': {
          'candidate': {'score': np.array([0.2, 0.9, 0.4], np.float32),
                        'probability': np.array([0.7, 0.1, 0.5], np.float32)},
          'baseline': {'score': np.array([0.5, 0.1, 0.3], np.float32),
                       'probability': np.array([0.2, 0.3, 0.4], np.float32)}},
      'features': {'gain': np.array([3.0, 0.0, 1.0], np.float32),
                   'item_id': np.array([b'a', b'b', b'c'])},
  }


def _tfma(extracts, model_name, output_name, example_weighted=False):
  labels, predictions, weights = next(metric_util.to_label_prediction_example_weight(
      metric_util.to_standard_metric_inputs(extracts), model_name=model_name,
      output_name=output_name, example_weighted=example_weighted, flatten=False,
      require_single_example_weight=True))
  return np.asarray(labels).reshape(-1), np.asarray(predictions).reshape(-1), weights


@pytest.mark.parametrize('model_name', ['candidate', 'baseline'])
@pytest.mark.parametrize('output_name', ['score', 'probability'])
def test_the_direct_read_equals_tfmas(model_name, output_name):
  extracts = _two_models_two_outputs()
  labels, predictions, weights = requests.labels_predictions_weights(
      extracts, None, model_name, output_name, example_weighted=False)
  tfma_labels, tfma_predictions, tfma_weight = _tfma(extracts, model_name, output_name)
  np.testing.assert_array_equal(labels, tfma_labels)
  np.testing.assert_array_equal(predictions, tfma_predictions)
  assert weights.tolist() == [float(tfma_weight)] == [1.0]


def test_one_model_one_output_arrays_are_read_directly():
  extracts = {'labels': np.array([1.0, 0.0]), 'predictions': np.array([0.3, 0.6])}
  labels, predictions, weights = requests.labels_predictions_weights(extracts, None, '', '',
                                                                     False)
  assert (labels.tolist(), predictions.tolist(), weights.tolist()) == ([1, 0], [0.3, 0.6], [1])


def test_scalars_and_matrices_go_through_tfma():
  scalar = {'labels': np.array(1.0), 'predictions': np.array(0.3)}
  labels, predictions, weights = requests.labels_predictions_weights(scalar, None, '', '', False)
  assert (labels.tolist(), predictions.tolist(), weights.tolist()) == ([1.0], [0.3], [1.0])
  assert requests._plain_arrays(scalar, '', '') is None
  matrix = {'labels': np.ones((2, 3)), 'predictions': np.ones((2, 3))}
  assert requests._plain_arrays(matrix, '', '') is None


def test_example_weights_go_through_tfma():
  extracts = {**_two_models_two_outputs(), 'example_weights': np.array([2.0, 2.0, 2.0])}
  inputs = requests.request_inputs(extracts, None, 'candidate', 'score', example_weighted=True)
  assert inputs.weight == 2.0
  with pytest.raises(ValueError):  # TFMA's own check: one weight for the request
    requests.request_inputs({**extracts, 'example_weights': np.array([1.0, 2.0, 2.0])}, None,
                            'candidate', 'score', example_weighted=True)


def test_features_are_read_and_a_missing_one_is_named():
  inputs = requests.request_inputs(_two_models_two_outputs(), None, 'candidate', 'score', False,
                                   feature_keys=['item_id'])
  assert inputs.features['item_id'].tolist() == [b'a', b'b', b'c']
  assert inputs.labels.tolist() == [3.0, 0.0, 1.0]
  with pytest.raises(ValueError, match="no 'brand' feature"):
    requests.request_inputs(_two_models_two_outputs(), None, 'candidate', 'score', False,
                            feature_keys=['brand'])


def test_fewer_labels_than_predictions_are_refused_naming_model_and_output():
  extracts = _two_models_two_outputs()
  extracts['labels']['baseline']['score'] = np.array([1.0])
  with pytest.raises(ValueError, match='1 labels and 3 predictions of score of baseline'):
    requests.request_inputs(extracts, None, 'baseline', 'score', False)


def test_the_preprocessor_yields_the_summary_once_per_whole_request():
  preprocessor = requests.RequestPreprocessor(
      'count', lambda request: request.predictions.size, None, 'candidate', 'score', False)
  whole = requests.mark_whole_request(_two_models_two_outputs())
  assert list(preprocessor.process(whole)) == [3]
  with pytest.raises(ValueError, match='count needs one extract per request: run TFMA with '
                                       'recfusion.evaluation.extractors.custom_extractors'):
    list(preprocessor.process(_two_models_two_outputs()))
  grouped = requests.RequestPreprocessor(
      'count', lambda request: request.predictions.size, None, 'candidate', 'score', False,
      grouped_by_query_key=True)
  assert list(grouped.process(_two_models_two_outputs())) == [3]
  assert preprocessor.name == ('_count_request_preprocessor:model=candidate,output=score,'
                               'weighted=False')


def test_weighted_means_travel_as_plain_floats_and_merge_in_any_form():
  import apache_beam as beam
  from tensorflow_model_analysis.metrics import metric_types
  keys = [metric_types.MetricKey(name='ndcg', sub_key=metric_types.SubKey(top_k=k))
          for k in (1, 2)]
  combiner = requests.WeightedMeanCombiner(keys)
  first = combiner.add_input(combiner.create_accumulator(), (2.0, np.array([1.0, 1.6])))
  first = combiner.add_input(first, None)  # a request that does not count
  second = combiner.add_input(combiner.create_accumulator(), (1.0, np.array([0.25, 0.5])))

  merged = combiner.merge_accumulators([first, second])
  assert merged == (3.0, (1.25, 2.1))
  # Beam's coder writes these itself, with no pickle: the bytes hold no pickled class.
  coder = beam.coders.registry.get_coder(object)
  encoded = coder.encode(merged)
  assert coder.decode(encoded) == merged and b'_WeightedSums' not in encoded
  assert combiner.compact(first) == (2.0, (1.0, 1.6))
  # A travelled accumulator merges with live sums, takes inputs, and gives the means.
  again = combiner.merge_accumulators([merged, combiner.add_input(merged, (1.0, np.ones(2)))])
  assert again == (7.0, (3.5, 5.2))
  assert combiner.extract_output(merged) == {keys[0]: 1.25 / 3.0, keys[1]: 2.1 / 3.0}
  assert all(np.isnan(v) for v in combiner.extract_output(
      combiner.merge_accumulators([combiner.create_accumulator()])).values())
