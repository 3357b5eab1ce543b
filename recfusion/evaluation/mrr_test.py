"""Tests of the MRR metric on tiny hand-checked queries, run through Beam the way TFMA tests its own
query metrics (min_label_position_test.py, ndcg_test.py), plus one run of TFMA end to end."""
import math
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from apache_beam.testing import util
from apache_beam.testing.test_pipeline import TestPipeline
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import util as tfma_util

from recfusion.evaluation import metric_test_util, mrr, requests

MODULE = 'recfusion.evaluation.mrr'


def _query(request_id, labels, predictions, weight=1.0):
  """One query as the Evaluator's extractors hand it to TFMA: its examples' extracts merged."""
  return requests.mark_whole_request(tfma_util.merge_extracts([{
      'labels': np.array([label]), 'predictions': np.array([prediction]),
      'example_weights': np.array([weight]), 'features': {'request_id': np.array([request_id])},
  } for label, prediction in zip(labels, predictions)]))


def _assert_metric(metric, queries, expected, example_weighted=False):
  """Runs the metric's combiner over `queries` in a Beam pipeline and checks its one value."""
  computation, = metric.computations(example_weighted=example_weighted)
  key = metric_types.MetricKey(name=metric.name, example_weighted=example_weighted)
  with TestPipeline() as pipeline:
    result = (pipeline
              | 'Create' >> beam.Create(queries)
              | 'Preprocess' >> beam.FlatMap(metric_test_util.preprocess, computation)
              | 'AddSlice' >> beam.Map(lambda x: ((), x))
              | 'Combine' >> beam.CombinePerKey(computation.combiner))

    def check(got):
      try:
        assert len(got) == 1
        slice_key, metrics = got[0]
        assert slice_key == ()
        assert set(metrics) == {key}
        assert metrics[key] == pytest.approx(expected, rel=1e-12)
      except AssertionError as err:
        raise util.BeamAssertException(err)

    util.assert_that(result, check)


def test_mrr_is_the_mean_reciprocal_rank_and_a_query_without_relevant_items_scores_zero():
  _assert_metric(mrr.MRR(), [
      _query('q1', labels=[1.0, 0.0, 0.0], predictions=[0.9, 0.5, 0.1]),  # 1st: RR 1
      _query('q2', labels=[0.0, 2.0, 0.0], predictions=[0.9, 0.2, 0.5]),  # 3rd: RR 1/3
      _query('q3', labels=[0.0, 0.0], predictions=[0.9, 0.5]),  # none relevant: RR 0
  ], expected=4 / 9)


def test_only_the_first_relevant_example_counts():
  # Relevant examples at ranks 2 and 3: RR is 1/2, whatever comes after.
  _assert_metric(mrr.MRR(), [_query('q1', [0.0, 1.0, 3.0], [0.9, 0.8, 0.7])], expected=1 / 2)


def test_ties_rank_irrelevant_examples_first_whatever_the_input_order():
  # The relevant example ties with two irrelevant ones: pessimistic rank 3, in every order.
  for labels in ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]):
    _assert_metric(mrr.MRR(), [_query('q1', labels, [0.5, 0.5, 0.5])], expected=1 / 3)
  # A strictly higher irrelevant score plus a tie below it: rank 3; two tied relevant: rank 2.
  _assert_metric(mrr.MRR(), [
      _query('q1', [1.0, 0.0, 0.0], [0.4, 0.4, 0.9]),
      _query('q2', [1.0, 1.0, 0.0], [0.4, 0.4, 0.9]),
  ], expected=(1 / 3 + 1 / 2) / 2)


def test_gain_threshold_counts_only_labels_strictly_above_it():
  queries = [
      _query('q1', [1.0, 3.0, 0.0], [0.9, 0.5, 0.1]),  # gain 1 is 1st, gain 3 is 2nd
      _query('q2', [1.0, 0.0], [0.9, 0.1]),  # only gain 1
  ]
  _assert_metric(mrr.MRR(), queries, expected=1.0)
  _assert_metric(mrr.MRR(gain_threshold=1.0), queries, expected=(1 / 2 + 0) / 2)


def test_example_weights_weight_each_query():
  queries = [
      _query('q1', [1.0, 0.0], [0.9, 0.1], weight=1.0),  # RR 1
      _query('q2', [0.0, 1.0], [0.9, 0.1], weight=3.0),  # RR 1/2
  ]
  _assert_metric(mrr.MRR(), queries, expected=(1 + 1 / 2) / 2)
  _assert_metric(mrr.MRR(), queries, expected=(1 * 1 + 3 * 1 / 2) / 4, example_weighted=True)


def test_nothing_to_average_is_nan():
  # An empty PCollection yields no slice at all in Beam, so call the combiner directly.
  combiner = mrr.MRR().computations()[0].combiner
  assert math.isnan(combiner.extract_output(combiner.create_accumulator())[
      metric_types.MetricKey(name='mrr')])


def test_single_candidates_are_refused_unless_tfma_groups_them_by_a_query_key():
  candidate = {k: v for k, v in _query('q1', [1.0], [0.9]).items()
               if k != requests.WHOLE_REQUEST_KEY}
  with pytest.raises(ValueError, match='MRR needs one extract per request'):
    metric_test_util.compute(mrr.MRR(name='MRR').computations()[0], [candidate])
  grouped, = mrr.MRR().computations(query_key='request_id')
  assert list(metric_test_util.compute(grouped, [candidate]).values()) == [1.0]


def test_a_request_with_fewer_labels_than_scores_is_refused_naming_the_output():
  request = _query('q1', [1.0, 0.0], [0.9, 0.1])
  request['labels'] = np.array([1.0])
  computation, = mrr.MRR().computations(output_names=['score'])
  request = {**request, 'labels': {'score': request['labels']},
             'predictions': {'score': request['predictions']}}
  with pytest.raises(ValueError, match='1 labels and 2 predictions of score'):
    metric_test_util.compute(computation, [request])


def test_eval_config_runs_through_tfma_end_to_end(tmp_path):
  """Model-agnostic TFMA run: the evaluator imports the module, groups by request_id itself."""
  rows = [('q1', 0.9, 1.0), ('q1', 0.5, 0.0),
          ('q2', 0.9, 0.0), ('q2', 0.8, 0.0), ('q2', 0.1, 2.0),
          ('q3', 0.3, 0.0)]
  data = str(tmp_path / 'examples.tfrecord')
  with tf.io.TFRecordWriter(data) as writer:
    for request_id, score, gain in rows:
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          'request_id': tf.train.Feature(
              bytes_list=tf.train.BytesList(value=[request_id.encode()])),
          'score': tf.train.Feature(float_list=tf.train.FloatList(value=[score])),
          'gain': tf.train.Feature(float_list=tf.train.FloatList(value=[gain])),
      })).SerializeToString())
  eval_config = tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(label_key='gain', prediction_key='score')],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[tfma.MetricsSpec(query_key='request_id', metrics=[
          tfma.MetricConfig(class_name='MRR', module=MODULE),
          tfma.MetricConfig(class_name='MRR', module=MODULE,
                            config='"name": "mrr_gain_gt_1", "gain_threshold": 1.0'),
      ])])
  result = tfma.run_model_analysis(eval_config=eval_config, data_location=data,
                                   output_path=os.path.join(tmp_path, 'eval'))
  (slice_key, metrics), = result.slicing_metrics
  assert slice_key == ()
  values = {name: value['doubleValue'] for name, value in metrics[''][''].items()}
  # q1 RR 1 (0 above gain 1), q2 RR 1/3, q3 RR 0.
  assert values == pytest.approx({'mrr': 4 / 9, 'mrr_gain_gt_1': 1 / 9}, rel=1e-12)
