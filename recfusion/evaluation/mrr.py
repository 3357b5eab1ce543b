"""MRR (mean reciprocal rank) as a TFMA 0.47 metric over requests.

TFMA has no MRR, so this follows the pattern of its own query metrics (MinLabelPosition, NDCG):
a `tfma.metrics.Metric` whose computation is a Beam CombineFn, and each `add_input` call sees
one whole request: arrays with one label and one prediction per candidate. The Evaluator's
extractors (extractors.py) hand TFMA one extract per request; with TFMA's default extractors,
set `MetricsSpec.query_key` and TFMA groups them itself. Fed single candidates instead, MRR
would silently become the share of relevant examples.

Use it from an EvalConfig:

  tfma.MetricsSpec(metrics=[
      tfma.MetricConfig(class_name='MRR', module='recfusion.evaluation.mrr')])

Optional arguments go in MetricConfig.config as JSON, e.g. config='"gain_threshold": 1.0'.
"""
from typing import List, Optional, Tuple

import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.proto import config_pb2

from recfusion.evaluation import requests
from recfusion.models import saved_models

# Beam workers in other processes import this module (the metric is named by module) before
# they load the model: the place to register the gbt member's ops there.
saved_models.register_ops()

MRR_NAME = 'mrr'


class MRR(metric_types.Metric):
  """Mean reciprocal rank over queries.

  For each query the examples are ranked by prediction (descending) and the query scores
  1 / rank of the first relevant example, where relevant means label > gain_threshold and the
  rank is 1-based. MRR is the mean over queries (weighted by the query's example weight when
  the MetricsSpec is example weighted; all examples of a query must then share one weight).

  Documented choices:
  * A query with no relevant example scores 0 and still counts in the mean, so a slice is not
    rewarded for queries where nothing relevant was shown (MinLabelPosition and NDCG drop such
    queries instead). With nothing to average (total query weight 0) the value is NaN, as in
    TFMA's own metrics.
  * Ties are broken pessimistically: an irrelevant example with the same score as the best
    relevant one is ranked above it. The order of examples within a grouped query is whatever
    Beam produced, so a sort that keeps input order would make the metric nondeterministic, and
    a constant-score model must not get a perfect MRR.

  Each input must be one whole request (see the module's docstring).
  """

  def __init__(self, name: str = MRR_NAME, gain_threshold: float = 0.0):
    """Initializes MRR.

    Args:
      name: Metric name (the MetricKey name of the output).
      gain_threshold: Examples whose label is strictly greater than this count as relevant.
    """
    super().__init__(_mrr, name=name, gain_threshold=gain_threshold)


# Registering (as TFMA does for its own metrics) lets a config name the class without a
# module once this module has been imported.
metric_types.register_metric(MRR)


def _mrr(name: str = MRR_NAME,
         gain_threshold: float = 0.0,
         eval_config: Optional[config_pb2.EvalConfig] = None,
         model_names: Optional[List[str]] = None,
         output_names: Optional[List[str]] = None,
         example_weighted: bool = False,
         query_key: str = '') -> metric_types.MetricComputations:
  """Returns one computation per (model, output) pair."""
  computations = []
  for model_name in model_names or ['']:
    for output_name in output_names or ['']:
      key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                   example_weighted=example_weighted)
      computations.append(metric_types.MetricComputation(
          keys=[key],
          preprocessors=[requests.RequestPreprocessor(
              name, _ReciprocalRank(gain_threshold), eval_config, model_name, output_name,
              example_weighted, grouped_by_query_key=bool(query_key))],
          combiner=requests.WeightedMeanCombiner([key])))
  return computations


def reciprocal_rank(labels: np.ndarray, predictions: np.ndarray, gain_threshold: float) -> float:
  """1 / the pessimistic rank of the best-scored relevant candidate; 0 without one."""
  relevant = labels > gain_threshold
  if not relevant.any():
    return 0.0
  best = predictions[relevant].max()
  # Pessimistic rank: every irrelevant example scored at least as high as the best relevant
  # one comes first. Counting (rather than sorting) makes it independent of input order.
  return 1.0 / (1 + int(np.sum(~relevant & (predictions >= best))))


class _ReciprocalRank:
  """One request's (weight, weighted reciprocal rank)."""

  def __init__(self, gain_threshold: float):
    self._gain_threshold = gain_threshold

  def __call__(self, request: requests.RequestInputs) -> Tuple[float, float]:
    rank = reciprocal_rank(request.labels, request.predictions, self._gain_threshold)
    return request.weight, rank * request.weight
