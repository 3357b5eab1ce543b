"""The TFMA EvalConfig of the Evaluator (docs/architecture.md §7), built from the run config.

Metrics: NDCG@k for k = 1..20 on the graded gain of a request (ndcg.py), MRR (mrr.py),
request and example counts (request_count.py), diversity, coverage, popularity share and
novelty of the top 10 (diversity.py); AUC, calibration plot, calibration, mean label and mean
prediction of the engagement probability (engagement.py); NDCG@10 for each base ranker too; 95%
intervals for all but the counts. The Evaluator's extractors (extractors.py) hand TFMA one extract
per request, so no MetricsSpec sets a query_key, every metric sees whole requests, and TFMA's
jackknife resamples requests: a request's candidates are not independent.
Slices: overall, request type, history-length bucket: request-level features only, since
an item-level slice would split a request's candidates. The gate is on NDCG@10 of the overall
slice only (`per_slice_thresholds`: a plain threshold would gate every slice): an absolute
floor, and no worse than the baseline by more than the tolerance.
"""
import json
from typing import Sequence

import tensorflow_model_analysis as tfma

from recfusion import features
from recfusion.keys import ENGAGED_KEY, PROBABILITY_KEY, SCORE_KEY
from recfusion.keys import LABEL_KEY as GAIN_KEY

SLICE_FEATURES = features.SLICE_FEATURES
NDCG_CLASS, NDCG_MODULE = 'RequestNDCG', 'recfusion.evaluation.ndcg'
# Metrics whose name is not their class's, lower case (ndcg.NDCG_NAME: TFMA's NDCG's name).
METRIC_NAMES = {NDCG_CLASS: 'ndcg'}
MRR_MODULE = 'recfusion.evaluation.mrr'
REQUEST_COUNT_MODULE = 'recfusion.evaluation.request_count'
DIVERSITY_MODULE = 'recfusion.evaluation.diversity'
ENGAGEMENT_MODULE = 'recfusion.evaluation.engagement'
# Bins of the engagement probability on [0, 1] for the AUC: TFMA's AUC used as many evenly
# spaced thresholds (a displayed AUC is read to about 0.001; the gate does not use it).
AUC_BINS = 1000


def _ndcg(top_k: Sequence[int], output_names: Sequence[str], thresholds=None):
  return tfma.MetricsSpec(
      output_names=list(output_names),
      binarize=tfma.BinarizationOptions(top_k_list={'values': list(top_k)}),
      metrics=[tfma.MetricConfig(class_name=NDCG_CLASS, module=NDCG_MODULE,
                                 config=f'"gain_key": "{GAIN_KEY}"',
                                 per_slice_thresholds=thresholds or [])])


def metric_name(metric: tfma.MetricConfig) -> str:
  """The name of the metric a MetricConfig computes (its MetricKey name): the config's own
  `name`, or the class's default (TFMA's metrics are named after their class)."""
  configured = json.loads('{' + metric.config + '}').get('name') if metric.config else None
  return configured or METRIC_NAMES.get(metric.class_name, metric.class_name.lower())


def gate(ndcg10_floor: float, tolerance: float) -> tfma.PerSliceMetricThreshold:
  return tfma.PerSliceMetricThreshold(
      slicing_specs=[tfma.SlicingSpec()],
      threshold=tfma.MetricThreshold(
          value_threshold=tfma.GenericValueThreshold(lower_bound={'value': ndcg10_floor}),
          change_threshold=tfma.GenericChangeThreshold(
              direction=tfma.MetricDirection.HIGHER_IS_BETTER,
              absolute={'value': -tolerance})))


def with_gate(config: tfma.EvalConfig, ndcg10_floor: float, tolerance: float
              ) -> tfma.EvalConfig:
  """A copy of `config` (from `build`) whose NDCG@10 gate has this floor and tolerance: how a
  run's own thresholds (Kubeflow runtime parameters) reach TFMA."""
  result = tfma.EvalConfig()
  result.CopyFrom(config)
  gated = [metric for spec in result.metrics_specs for metric in spec.metrics
           if metric.class_name == NDCG_CLASS and metric.per_slice_thresholds]
  if len(gated) != 1:
    raise ValueError(f'expected one gated NDCG metric in the EvalConfig, found {len(gated)}')
  del gated[0].per_slice_thresholds[:]
  gated[0].per_slice_thresholds.append(gate(ndcg10_floor, tolerance))
  return result


def build(ndcg10_floor: float, tolerance: float, rankers: Sequence[str]) -> tfma.EvalConfig:
  """`rankers`: the base rankers whose own scores the fused model also returns.

  Confidence intervals by TFMA's jackknife: each extract is one request, so the intervals are
  over requests, and the change vs the baseline is paired (both models score the same
  resampled requests).
  """
  labels = {SCORE_KEY: GAIN_KEY, PROBABILITY_KEY: ENGAGED_KEY,
            **{name: GAIN_KEY for name in rankers}}
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name='serving_default', label_keys=labels,
                                  model_type='tf_generic')],
      options=tfma.Options(
          # Only the metrics below (TFMA adds a Keras model's compiled metrics by default).
          include_default_metrics={'value': False},
          compute_confidence_intervals={'value': True},
          confidence_intervals=tfma.ConfidenceIntervalOptions(
              method=tfma.ConfidenceIntervalOptions.JACKKNIFE)),
      slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[f])
                                            for f in SLICE_FEATURES],
      metrics_specs=[
          _ndcg([10], [SCORE_KEY], [gate(ndcg10_floor, tolerance)]),
          _ndcg([k for k in range(1, 21) if k != 10], [SCORE_KEY]),
          _ndcg([10], list(rankers)),
          tfma.MetricsSpec(output_names=[SCORE_KEY], metrics=[
              tfma.MetricConfig(class_name='MRR', module=MRR_MODULE),
              tfma.MetricConfig(class_name='RequestCount', module=REQUEST_COUNT_MODULE),
              tfma.MetricConfig(class_name='Diversity', module=DIVERSITY_MODULE)]),
          tfma.MetricsSpec(output_names=[PROBABILITY_KEY], metrics=[
              tfma.MetricConfig(class_name='CandidateCount', module=REQUEST_COUNT_MODULE),
              # Also calibration, mean label and mean prediction (TFMA's names), from its
              # histogram (engagement.py says why not TFMA's own).
              tfma.MetricConfig(class_name='EngagementCurve', module=ENGAGEMENT_MODULE,
                                config=f'"bins": {AUC_BINS}, "plot_buckets": 10'),
          ]),
      ])
