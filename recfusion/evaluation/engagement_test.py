import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from sklearn.metrics import roc_auc_score
from tensorflow_model_analysis.metrics import metric_specs

from recfusion.evaluation import engagement, request_count

ENGAGEMENT = 'recfusion.evaluation.engagement'
COUNTS = 'recfusion.evaluation.request_count'


def test_histogram_sums_labels_predictions_and_weights_per_bin():
  counts = engagement.histogram(np.array([1., 0., 1., 0.]), np.array([0.05, 0.07, 0.95, 1.0]),
                                np.array([1.0]), bins=10)
  assert counts.shape == (3, 10)
  np.testing.assert_allclose(counts[engagement.LABELS], [1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
  np.testing.assert_allclose(counts[engagement.PREDICTIONS][[0, 9]], [0.12, 1.95])
  np.testing.assert_allclose(counts[engagement.WEIGHTS], [2, 0, 0, 0, 0, 0, 0, 0, 0, 2])


def test_predictions_outside_zero_one_go_to_the_end_bins():
  counts = engagement.histogram(np.array([0., 1.]), np.array([-3.0, 7.0]), np.array([1.0]), 4)
  np.testing.assert_allclose(counts[engagement.WEIGHTS], [1, 0, 0, 1])


def test_per_example_weights_weigh_each_example():
  counts = engagement.histogram(np.array([1., 0.]), np.array([0.1, 0.1]), np.array([2., 3.]), 2)
  np.testing.assert_allclose(counts[:, 0], [2.0, 0.5, 5.0])


def test_auc_matches_scikit_learn_when_every_prediction_has_its_own_bin():
  labels = np.array([1, 0, 0, 1, 0, 1, 0, 0])
  predictions = np.array([0.91, 0.12, 0.55, 0.47, 0.33, 0.78, 0.05, 0.64])
  counts = engagement.histogram(labels.astype(float), predictions, np.array([1.0]), bins=100)
  assert engagement.auc(counts) == pytest.approx(roc_auc_score(labels, predictions), abs=1e-12)


def test_predictions_in_one_bin_count_as_ties():
  # Positives 0.9 and 0.1; negatives 0.5, 0.9, 0.8, 0.3: 0.9 beats three and ties one.
  counts = engagement.histogram(np.array([1., 0., 0., 0., 1., 0.]),
                                np.array([0.9, 0.5, 0.9, 0.8, 0.1, 0.3]), np.array([1.0]), 10)
  assert engagement.auc(counts) == pytest.approx(3.5 / 8)
  coarse = engagement.histogram(np.array([1., 0.]), np.array([0.91, 0.99]), np.array([1.0]), 10)
  assert engagement.auc(coarse) == pytest.approx(0.5)


def test_auc_without_both_classes_is_nan():
  counts = engagement.histogram(np.array([1., 1.]), np.array([0.2, 0.7]), np.array([1.0]), 10)
  assert math.isnan(engagement.auc(counts))


def test_totals_are_tfma_calibration_mean_label_and_mean_prediction():
  counts = engagement.histogram(np.array([1., 0., 1.]), np.array([0.2, 0.4, 0.9]),
                                np.array([1., 3., 2.]), 10)
  # weighted labels 1 + 2 = 3, weighted predictions 0.2 + 1.2 + 1.8 = 3.2, weights 6
  assert engagement.totals(counts) == pytest.approx((3.2 / 3, 3 / 6, 3.2 / 6))
  no_labels = engagement.histogram(np.array([0.]), np.array([0.5]), np.array([1.]), 10)
  calibration, mean_label, mean_prediction = engagement.totals(no_labels)
  assert math.isnan(calibration) and (mean_label, mean_prediction) == (0.0, 0.5)
  assert all(math.isnan(value) for value in engagement.totals(np.zeros((3, 10))))


def test_calibration_plot_merges_bins_into_equal_width_buckets():
  counts = engagement.histogram(np.array([1., 0., 1., 0.]), np.array([0.1, 0.3, 0.6, 0.9]),
                                np.array([1.0]), bins=10)
  plot = engagement.calibration_plot(counts, 2)
  rows = [(b.lower_threshold_inclusive, b.upper_threshold_exclusive, b.total_weighted_label.value,
           b.total_weighted_refined_prediction.value, b.num_weighted_examples.value)
          for b in plot.buckets]
  np.testing.assert_allclose(rows, [(0.0, 0.5, 1.0, 0.4, 2.0), (0.5, math.inf, 1.0, 1.5, 2.0)])


@pytest.mark.parametrize('labels, predictions, weights, message', [
    ([0.0, 2.0], [0.1, 0.2], [1.0], r'labels must lie in \[0, 1\]'),
    ([0.0, 1.0], [0.1, float('nan')], [1.0], 'NaN'),
    ([0.0, 1.0], [0.1], [1.0], '2 labels and 1 predictions'),
    ([0.0, 1.0, 1.0], [0.1, 0.2, 0.3], [1.0, 1.0], 'got 2 for 3 labels'),
])
def test_bad_inputs_are_refused_with_what_is_wrong(labels, predictions, weights, message):
  with pytest.raises(ValueError, match=message):
    engagement.histogram(np.array(labels), np.array(predictions), np.array(weights), 10)


@pytest.mark.parametrize('bins, plot_buckets', [(1, 1), (10, 3), (10, 0)])
def test_bins_must_split_into_the_plot_buckets(bins, plot_buckets):
  with pytest.raises(ValueError, match='multiple of plot_buckets'):
    engagement.EngagementCurve(bins=bins, plot_buckets=plot_buckets)


def test_counts_carry_no_interval_and_the_auc_does():
  spec = tfma.MetricsSpec(query_key='request_id', metrics=[
      tfma.MetricConfig(class_name='RequestCount', module=COUNTS),
      tfma.MetricConfig(class_name='CandidateCount', module=COUNTS),
      tfma.MetricConfig(class_name='EngagementCurve', module=ENGAGEMENT)])
  skipped = {key.name for key in metric_specs.metric_keys_to_skip_for_confidence_intervals(
      [spec], eval_config=tfma.EvalConfig())}
  assert skipped == {request_count.REQUESTS_NAME, request_count.EXAMPLES_NAME}


def test_eval_config_runs_through_tfma_end_to_end(tmp_path):
  """Model-agnostic TFMA run grouped by request: the AUC, plot, calibration, mean label and
  mean prediction over all candidates, the counts of requests and candidates."""
  rows = [('q1', 0.9, 1.0), ('q1', 0.5, 0.0),
          ('q2', 0.9, 0.0), ('q2', 0.75, 0.0), ('q2', 0.1, 1.0),
          ('q3', 0.3, 0.0)]
  data = str(tmp_path / 'examples.tfrecord')
  with tf.io.TFRecordWriter(data) as writer:
    for request_id, probability, engaged in rows:  # float32 0.9 and 0.75: bins 8 and 7
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          'request_id': tf.train.Feature(
              bytes_list=tf.train.BytesList(value=[request_id.encode()])),
          'probability': tf.train.Feature(float_list=tf.train.FloatList(value=[probability])),
          'engaged': tf.train.Feature(float_list=tf.train.FloatList(value=[engaged])),
      })).SerializeToString())
  eval_config = tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(label_key='engaged', prediction_key='probability')],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[tfma.MetricsSpec(query_key='request_id', metrics=[
          tfma.MetricConfig(class_name='RequestCount', module=COUNTS),
          tfma.MetricConfig(class_name='CandidateCount', module=COUNTS),
          tfma.MetricConfig(class_name='EngagementCurve', module=ENGAGEMENT,
                            config='"bins": 10, "plot_buckets": 2')])])
  output = os.path.join(tmp_path, 'eval')
  result = tfma.run_model_analysis(eval_config=eval_config, data_location=data,
                                   output_path=output)
  (slice_key, metrics), = result.slicing_metrics
  assert slice_key == ()
  values = {name: value['doubleValue'] for name, value in metrics[''][''].items()}
  predictions = float(sum(np.float32(row[1]) for row in rows))
  assert values == pytest.approx({'requests': 3.0, 'example_count': 6.0, 'auc': 3.5 / 8,
                                  'calibration': predictions / 2, 'mean_label': 2 / 6,
                                  'mean_prediction': predictions / 6})
  (plots,) = tfma.load_plots(output)
  (plot,) = [item.value.calibration_histogram_buckets for item in plots.plot_keys_and_values]
  assert [(b.num_weighted_examples.value, b.total_weighted_label.value)
          for b in plot.buckets] == [(2.0, 1.0), (4.0, 1.0)]


def test_merged_accumulators_travel_sparse_and_give_the_same_histogram():
  computation = engagement.EngagementCurve(bins=10, plot_buckets=2).computations()[0]
  combiner = computation.combiner
  first = combiner.add_input(combiner.create_accumulator(),
                             engagement.binned(np.array([1., 0.]), np.array([0.15, 0.95]),
                                               np.array([1.0]), 10))
  second = combiner.add_input(combiner.create_accumulator(),
                              engagement.binned(np.array([1.]), np.array([0.15]),
                                                np.array([2.0]), 10))
  merged = combiner.merge_accumulators([first, second])
  assert isinstance(merged, engagement.SparseHistogram) and merged.bins.tolist() == [1, 9]
  expected = engagement.histogram(np.array([1., 0., 1.]), np.array([0.15, 0.95, 0.15]),
                                  np.array([1., 1., 2.]), 10)
  (output,) = combiner.extract_output(merged).values()
  np.testing.assert_array_equal(output, expected)
  # Merging a sparse and a dense one, and adding to a sparse one, keep every sum.
  again = combiner.merge_accumulators([merged, first])
  np.testing.assert_array_equal(engagement.dense(again, 10), expected + first)
  added = combiner.add_input(merged, engagement.binned(np.array([0.]), np.array([0.5]),
                                                       np.array([1.0]), 10))
  assert added[engagement.WEIGHTS].sum() == 5.0
  # A histogram with most bins filled stays dense.
  full = engagement.histogram(np.zeros(10), np.arange(10) / 10, np.array([1.0]), 10)
  assert engagement.smaller(full) is full


def test_request_count_refuses_single_candidates_and_counts_whole_requests():
  from recfusion.evaluation import metric_test_util, requests
  candidate = {'labels': np.array([1.0]), 'predictions': np.array([0.5])}
  computation, = request_count.RequestCount().computations()
  with pytest.raises(ValueError, match='RequestCount needs one extract per request'):
    metric_test_util.compute(computation, [candidate])
  whole = requests.mark_whole_request({'labels': np.array([1.0, 0.0]),
                                       'predictions': np.array([0.5, 0.2])})
  assert list(metric_test_util.compute(computation, [whole, whole]).values()) == [2.0]
  candidates, = request_count.CandidateCount().computations()
  assert list(metric_test_util.compute(candidates, [whole, candidate]).values()) == [3.0]


def test_candidate_count_reads_plain_arrays_directly_and_other_predictions_through_tfma():
  from recfusion.evaluation import metric_test_util, requests
  two_models = requests.mark_whole_request({
      'labels': {m: {'probability': np.array([1, 0, 1])} for m in ('candidate', 'baseline')},
      'predictions': {'candidate': {'probability': np.array([0.7, 0.1, 0.5], np.float32)},
                      'baseline': {'probability': np.array([0.2, 0.3], np.float32)}}})
  computations = request_count.CandidateCount().computations(
      model_names=['candidate', 'baseline'], output_names=['probability'])
  assert requests.plain_predictions(two_models, 'baseline', 'probability').tolist() == [
      pytest.approx(0.2), pytest.approx(0.3)]
  counts = {}
  for computation in computations:
    counts.update(metric_test_util.compute(computation, [two_models]))
  assert {key.model_name: value for key, value in counts.items()} == {'candidate': 3,
                                                                     'baseline': 2}
  # A Python list is not a plain array: TFMA reads it, with the same count.
  listed = requests.mark_whole_request({'labels': [1.0, 0.0], 'predictions': [0.5, 0.2]})
  assert requests.plain_predictions(listed, '', '') is None
  candidates, = request_count.CandidateCount().computations()
  assert list(metric_test_util.compute(candidates, [listed]).values()) == [2]


def test_weighted_auc_matches_scikit_learn():
  labels = np.array([1., 0., 0., 1., 0., 1., 0., 0.])
  predictions = np.array([0.91, 0.12, 0.55, 0.47, 0.33, 0.78, 0.05, 0.64])
  weights = np.array([2.0, 0.5, 1.0, 3.0, 1.5, 0.25, 1.0, 4.0])
  counts = engagement.histogram(labels, predictions, weights, bins=100)
  assert engagement.auc(counts) == pytest.approx(
      roc_auc_score(labels, predictions, sample_weight=weights), abs=1e-12)
