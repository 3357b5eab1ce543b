"""AUC, calibration plot, calibration, mean label and mean prediction of an engagement
probability, as one TFMA 0.47 metric over one binned histogram whose accumulator is a numpy
array.

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

`calibration`, `mean_label` and `mean_prediction` are TFMA's metrics of those names, read off
the same histogram's totals (sum of weighted predictions over weighted labels, weighted labels
over weights, weighted predictions over weights; NaN over a zero total, as TFMA). TFMA's own
add them up one candidate at a time in Python, once per slice: that was a fifth of the
Evaluator's metric time at 10x the bench's shop.

In the Evaluator each input is one request's arrays (its extractors hand TFMA requests, so all
intervals are over requests); with TFMA's default extractors and no query_key, one example.
"""
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.proto import config_pb2, metrics_for_slice_pb2

from recfusion.evaluation import requests
from recfusion.models import saved_models

saved_models.register_ops()  # see mrr.py: Beam workers import this before loading the model

AUC_NAME = 'auc'
# TFMA's names (tensorflow_model_analysis/metrics/calibration.py), which the report reads.
CALIBRATION_NAME, MEAN_LABEL_NAME, MEAN_PREDICTION_NAME = (
    'calibration', 'mean_label', 'mean_prediction')
PLOT_NAME = 'calibration_plot'  # TFMA's name: its writer files the plot as the model's default
_HISTOGRAM_NAME = '_engagement_histogram'  # private: TFMA drops '_' metrics from its output
LABELS, PREDICTIONS, WEIGHTS = range(3)  # the accumulator's rows, summed per bin
_ROWS = np.arange(3)[:, np.newaxis]


class EngagementCurve(metric_types.Metric):
  """`auc`, `calibration_plot`, `calibration`, `mean_label` and `mean_prediction` of a
  probability output."""

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
                      example_weighted: bool = False) -> metric_types.MetricComputations:
  # One request's arrays or one example's: the histogram adds either.
  computations = []
  for model_name in model_names or ['']:
    for output_name in output_names or ['']:
      names = dict(model_name=model_name, output_name=output_name,
                   example_weighted=example_weighted)
      histogram_key = metric_types.MetricKey(name=f'{_HISTOGRAM_NAME}:bins={bins}', **names)
      auc_key = metric_types.MetricKey(name=name, **names)
      plot_key = metric_types.PlotKey(name=PLOT_NAME, **names)
      totals_keys = [metric_types.MetricKey(name=total, **names) for total in
                     (CALIBRATION_NAME, MEAN_LABEL_NAME, MEAN_PREDICTION_NAME)]
      computations.append(metric_types.MetricComputation(
          keys=[histogram_key],
          preprocessors=[_BinnedPreprocessor(histogram_key, eval_config, example_weighted, bins)],
          combiner=_HistogramCombiner(histogram_key, bins)))
      computations.append(metric_types.DerivedMetricComputation(
          keys=[auc_key, plot_key, *totals_keys],
          result=_Outputs(histogram_key, auc_key, plot_key, totals_keys, plot_buckets)))
  return computations


def binned(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray,
           bins: int) -> Tuple[np.ndarray, np.ndarray]:
  """Each example's bin (equal-width on [0, 1], values outside go to the end bins) and its
  (3, n) weight * label, weight * prediction and weight."""
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
  return index, np.stack([weights * labels, weights * predictions, weights])


def add_binned(histogram_: np.ndarray, index: np.ndarray, values: np.ndarray) -> np.ndarray:
  """`histogram_` with `binned`'s values added into their bins (in place)."""
  np.add.at(histogram_, (_ROWS, index[np.newaxis, :]), values)
  return histogram_


def histogram(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray,
              bins: int) -> np.ndarray:
  """(3, bins): per bin of `binned`, the sums of weight * label, weight * prediction and
  weight."""
  return add_binned(np.zeros((3, bins)), *binned(labels, predictions, weights, bins))


def auc(histogram_: np.ndarray) -> float:
  """The share of (positive, negative) weight pairs whose positive is in a higher bin, a
  shared bin counting one half; NaN without both classes: the area under the ROC curve whose
  points are the bins' cumulative positive and negative weights from the top bin down
  (scikit-learn's trapezoid area; roc_auc_score on the bins' weighted pairs gives the same
  value, and spent 0.9 ms a call validating them, 168 calls an Evaluator run)."""
  from sklearn import metrics  # a second of import the listing commands skip
  positives = histogram_[LABELS]
  negatives = np.maximum(histogram_[WEIGHTS] - positives, 0.0)
  if positives.sum() <= 0 or negatives.sum() <= 0:
    return float('nan')
  true_positive_rate = np.concatenate([[0.0], np.cumsum(positives[::-1])]) / positives.sum()
  false_positive_rate = np.concatenate([[0.0], np.cumsum(negatives[::-1])]) / negatives.sum()
  return float(metrics.auc(false_positive_rate, true_positive_rate))


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


def _ratio(numerator: float, denominator: float) -> float:
  return float('nan') if np.isclose(denominator, 0.0) else float(numerator / denominator)


def totals(histogram_: np.ndarray) -> Tuple[float, float, float]:
  """Calibration, mean label and mean prediction, as TFMA computes them from the same sums."""
  labels, predictions, weights = histogram_.sum(axis=1)
  return _ratio(predictions, labels), _ratio(labels, weights), _ratio(predictions, weights)


class _Outputs:
  """The derived computation (a class, not a closure, so that Beam pickles it plainly)."""

  def __init__(self, histogram_key, auc_key, plot_key, totals_keys, plot_buckets: int):
    self._keys = (histogram_key, auc_key, plot_key)
    self._totals_keys = totals_keys
    self._plot_buckets = plot_buckets

  def __call__(self, metrics: Dict[metric_types.MetricKey, np.ndarray]) -> Dict:
    histogram_key, auc_key, plot_key = self._keys
    counts = metrics[histogram_key]
    return {auc_key: auc(counts), plot_key: calibration_plot(counts, self._plot_buckets),
            **dict(zip(self._totals_keys, totals(counts)))}


class _BinnedPreprocessor(metric_types.Preprocessor):
  """One request's `binned` examples, once per request before TFMA fans it out to slices
  (requests.py); example weights may differ per candidate here."""

  def __init__(self, key: metric_types.MetricKey, eval_config: Optional[config_pb2.EvalConfig],
               example_weighted: bool, bins: int):
    super().__init__(name=f'_binned_preprocessor:bins={bins},model={key.model_name},'
                          f'output={key.output_name},weighted={example_weighted}')
    self._key = key
    self._eval_config = eval_config
    self._example_weighted = example_weighted
    self._bins = bins

  def process(self, extracts) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    try:
      labels, predictions, weights = requests.labels_predictions_weights(
          extracts, self._eval_config, self._key.model_name, self._key.output_name,
          self._example_weighted, single_weight=False)
      yield binned(np.asarray(labels, np.float64), np.asarray(predictions, np.float64),
                   weights, self._bins)
    except ValueError as error:
      raise ValueError(f'{self._key.output_name or "output"} of '
                       f'{self._key.model_name or "the model"}: {error}') from error


class SparseHistogram(NamedTuple):
  """A histogram's non-empty bins: what a merged accumulator travels as between Beam stages.

  The jackknife shuffles every (slice, partition)'s merged accumulator, and TFMA's own sent each
  to its 20 leave-one-out merges. Dense, a (3, 1,000) histogram was 24 KB of the 30 KB of a
  partition's metrics on the bench's shop, where a partition's few hundred candidates fill a few
  hundred bins."""
  bins: np.ndarray  # the non-empty bins
  values: np.ndarray  # (3, len(bins)): their sums


def dense(histogram_, bins: int) -> np.ndarray:
  """A dense copy of a dense or sparse histogram."""
  if isinstance(histogram_, SparseHistogram):
    result = np.zeros((3, bins))
    result[:, histogram_.bins] = histogram_.values
    return result
  return np.array(histogram_)


def smaller(histogram_: np.ndarray):
  """The histogram as it pickles smaller: sparse when under half its bins are filled."""
  filled = np.flatnonzero(histogram_.any(axis=0))
  if filled.size * 2 >= histogram_.shape[1]:
    return histogram_
  return SparseHistogram(filled.astype(np.int32), histogram_[:, filled])


class _HistogramCombiner(beam.CombineFn):

  def __init__(self, key: metric_types.MetricKey, bins: int):
    self._key = key
    self._bins = bins

  def create_accumulator(self) -> np.ndarray:
    return np.zeros((3, self._bins))

  def add_input(self, accumulator, request: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    if isinstance(accumulator, SparseHistogram):
      accumulator = dense(accumulator, self._bins)
    return add_binned(accumulator, *request)

  def merge_accumulators(self, accumulators: Iterable) -> Any:
    # A new array: under the jackknife one partition's accumulator is an input of many merges.
    result = np.zeros((3, self._bins))
    for accumulator in accumulators:
      if isinstance(accumulator, SparseHistogram):
        result[:, accumulator.bins] += accumulator.values
      else:
        result += accumulator
    return smaller(result)

  def compact(self, accumulator) -> Any:
    return smaller(accumulator) if isinstance(accumulator, np.ndarray) else accumulator

  def extract_output(self, accumulator) -> Dict[metric_types.MetricKey, np.ndarray]:
    return {self._key: dense(accumulator, self._bins)}
