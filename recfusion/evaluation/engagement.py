"""AUC and calibration plot of an engagement probability, as one TFMA 0.47 metric over one
binned histogram whose accumulator is a numpy array.

Why not TFMA's own AUC and CalibrationPlot: both read a 10,000-bucket calibration histogram
whose accumulator is a dict of Python objects, and under the jackknife every partition's
accumulator is copied into each of the 20 resamples; Beam pickles each bucket on its own. On
the bench's small shop (8,263 eval examples, candidate and baseline) those two metrics took
~40 s of a 77 s Evaluator; this metric's accumulator is one (3, bins) array.

The AUC is the same quantity as TFMA's AUC with `num_thresholds` = `bins` on [0, 1] (the ROC
curve through the bin edges, trapezoids, predictions within a bin tied): the share of
(engaged, not engaged) example pairs ranked the right way, ties counting one half. The plot
has TFMA's CalibrationPlot format (`calibration_histogram_buckets`), `plot_buckets` equal-width
buckets merged from the fine bins. Labels are weights of the positive class, so they must lie
in [0, 1] (an engagement flag, or a fraction).

With a query_key (the Evaluator's setting: all its metrics group a request's candidates, so
all intervals are over requests) each input is one request's arrays; without, one example.
"""
from typing import Dict, Iterable, List, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2, metrics_for_slice_pb2

from recfusion import ranking_metrics
from recfusion.models import saved_models

saved_models.register_ops()  # see mrr.py: Beam workers import this before loading the model

AUC_NAME = 'auc'
PLOT_NAME = 'calibration_plot'  # TFMA's name: its writer files the plot as the model's default
_HISTOGRAM_NAME = '_engagement_histogram'  # private: TFMA drops '_' metrics from its output
LABELS, PREDICTIONS, WEIGHTS = range(3)  # the accumulator's rows, summed per bin


class EngagementCurve(metric_types.Metric):
  """`auc` and `calibration_plot` of a probability output."""

  def __init__(self, name: str = AUC_NAME, bins: int = 1000, plot_buckets: int = 10):
    if bins < 2 or plot_buckets < 1 or bins % plot_buckets:
      raise ValueError(f'bins ({bins}) must be at least 2 and a multiple of plot_buckets '
                       f'({plot_buckets})')
    super().__init__(_engagement_curve, name=name, bins=bins, plot_buckets=plot_buckets)


metric_types.register_metric(EngagementCurve)


def _engagement_curve(name: str = AUC_NAME, bins: int = 1000, plot_buckets: int = 10,
                      eval_config: Optional[config_pb2.EvalConfig] = None,
                      model_names: Optional[List[str]] = None,
                      output_names: Optional[List[str]] = None,
                      example_weighted: bool = False,
                      query_key: str = '') -> metric_types.MetricComputations:
  del query_key  # one request's arrays or one example's: the histogram adds either
  computations = []
  for model_name in model_names or ['']:
    for output_name in output_names or ['']:
      names = dict(model_name=model_name, output_name=output_name,
                   example_weighted=example_weighted)
      histogram_key = metric_types.MetricKey(name=f'{_HISTOGRAM_NAME}:bins={bins}', **names)
      auc_key = metric_types.MetricKey(name=name, **names)
      plot_key = metric_types.PlotKey(name=PLOT_NAME, **names)
      computations.append(metric_types.MetricComputation(
          keys=[histogram_key], preprocessors=None,
          combiner=_HistogramCombiner(histogram_key, eval_config, example_weighted, bins)))
      computations.append(metric_types.DerivedMetricComputation(
          keys=[auc_key, plot_key],
          result=_Outputs(histogram_key, auc_key, plot_key, plot_buckets)))
  return computations


def histogram(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray,
              bins: int) -> np.ndarray:
  """(3, bins): per equal-width bin of the prediction on [0, 1] (values outside go to the
  end bins), the sums of weight * label, weight * prediction and weight."""
  labels, predictions = labels.reshape(-1), predictions.reshape(-1)
  if labels.size != predictions.size:
    raise ValueError(f'one label per prediction expected, got {labels.size} labels and '
                     f'{predictions.size} predictions')
  if np.isnan(predictions).any():
    raise ValueError('a prediction is NaN')
  if ((labels < 0) | (labels > 1)).any():
    raise ValueError(f'labels must lie in [0, 1] (engaged or not), got {labels[:10]}')
  weights = weights.reshape(-1)
  if weights.size not in (1, labels.size):
    raise ValueError(f'one example weight, or one per label, expected, got {weights.size} for '
                     f'{labels.size} labels')
  weights = np.broadcast_to(weights, labels.shape).astype(np.float64)
  index = np.clip((predictions * bins).astype(np.int64), 0, bins - 1)
  result = np.zeros((3, bins))
  result[LABELS] = np.bincount(index, weights * labels, minlength=bins)
  result[PREDICTIONS] = np.bincount(index, weights * predictions, minlength=bins)
  result[WEIGHTS] = np.bincount(index, weights, minlength=bins)
  return result


def auc(histogram_: np.ndarray) -> float:
  """The share of (positive, negative) weight pairs whose positive is in a higher bin, a
  shared bin counting one half; NaN without both classes."""
  positives = histogram_[LABELS]
  negatives = histogram_[WEIGHTS] - positives
  bins = np.arange(positives.size)
  # Each bin once as a positive and once as a negative, weighted by what it holds.
  return ranking_metrics.auc(np.repeat([True, False], positives.size),
                             np.concatenate([bins, bins]),
                             np.concatenate([positives, np.maximum(negatives, 0.0)]))


def calibration_plot(histogram_: np.ndarray, buckets: int
                     ) -> metrics_for_slice_pb2.CalibrationHistogramBuckets:
  coarse = histogram_.reshape(3, buckets, -1).sum(axis=2)
  plot = metrics_for_slice_pb2.CalibrationHistogramBuckets()
  for i in range(buckets):
    plot.buckets.add(
        lower_threshold_inclusive=i / buckets,
        upper_threshold_exclusive=(i + 1) / buckets if i + 1 < buckets else float('inf'),
        total_weighted_label={'value': coarse[LABELS, i]},
        total_weighted_refined_prediction={'value': coarse[PREDICTIONS, i]},
        num_weighted_examples={'value': coarse[WEIGHTS, i]})
  return plot


class _Outputs:
  """The derived computation (a class, not a closure, so that Beam pickles it plainly)."""

  def __init__(self, histogram_key, auc_key, plot_key, plot_buckets: int):
    self._keys = (histogram_key, auc_key, plot_key)
    self._plot_buckets = plot_buckets

  def __call__(self, metrics: Dict[metric_types.MetricKey, np.ndarray]) -> Dict:
    histogram_key, auc_key, plot_key = self._keys
    counts = metrics[histogram_key]
    return {auc_key: auc(counts), plot_key: calibration_plot(counts, self._plot_buckets)}


class _HistogramCombiner(beam.CombineFn):

  def __init__(self, key: metric_types.MetricKey, eval_config: Optional[config_pb2.EvalConfig],
               example_weighted: bool, bins: int):
    self._key = key
    self._eval_config = eval_config
    self._example_weighted = example_weighted
    self._bins = bins

  def create_accumulator(self) -> np.ndarray:
    return np.zeros((3, self._bins))

  def add_input(self, accumulator: np.ndarray,
                element: metric_types.StandardMetricInputs) -> np.ndarray:
    # flatten=False: one call per request (its arrays), not one per candidate.
    for labels, predictions, weights in metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._key.model_name,
        output_name=self._key.output_name, example_weighted=self._example_weighted,
        flatten=False):
      try:
        accumulator += histogram(np.asarray(labels, np.float64),
                                 np.asarray(predictions, np.float64),
                                 np.asarray(weights, np.float64), self._bins)
      except ValueError as error:
        raise ValueError(f'{self._key.output_name or "output"} of '
                         f'{self._key.model_name or "the model"}: {error}') from error
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
    accumulators = iter(accumulators)
    # A copy: under the jackknife one partition's accumulator is an input of many merges.
    result = np.array(next(accumulators))
    for accumulator in accumulators:
      result += accumulator
    return result

  def extract_output(self, accumulator: np.ndarray) -> Dict[metric_types.MetricKey, np.ndarray]:
    return {self._key: accumulator}
