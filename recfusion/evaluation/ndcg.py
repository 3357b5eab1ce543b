"""NDCG@k over requests, as TFMA's NDCG computes it, for every k of a request in one pass.

TFMA's NDCG needs `MetricsSpec.query_key` (the evaluator then groups candidates itself, per
example; the Evaluator's extractors already hand it one extract per request, extractors.py), and
it sorts and sums a request's gains once for each k and each slice. This metric takes each
input as one request, ranks it once (requests.py: before TFMA fans it out to slices) and reads
every k off one cumulative sum; its numbers are TFMA's (tested against its combiner):

  NDCG@k = DCG@k / ideal DCG@k,  DCG@k = sum over the first min(k, n) candidates ranked by
  score (descending, ties as numpy's argsort reversed) of gain / log2(rank + 1);

a request whose gains are all <= 0 weighs 0 (it has nothing to rank), and the metric is the
weighted mean over requests (the request's example weight when example weighted, else 1).

  tfma.MetricsSpec(output_names=['score'], binarize=tfma.BinarizationOptions(
      top_k_list={'values': [5, 10]}), metrics=[tfma.MetricConfig(
          class_name='RequestNDCG', module='recfusion.evaluation.ndcg',
          config='"gain_key": "gain"')])
"""
from typing import List, Optional, Tuple

import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.proto import config_pb2

from recfusion.evaluation import requests
from recfusion.models import saved_models

saved_models.register_ops()  # see mrr.py: Beam workers import this before loading the model

NDCG_NAME = 'ndcg'  # TFMA's name: the report, the gate and the thresholds read these keys


class RequestNDCG(metric_types.Metric):
  """NDCG@k of the configured top k values (`top_k_list` or the MetricsSpec's binarize)."""

  def __init__(self, gain_key: str, top_k_list: Optional[List[int]] = None,
               name: str = NDCG_NAME):
    super().__init__(_request_ndcg, gain_key=gain_key, top_k_list=top_k_list, name=name)


metric_types.register_metric(RequestNDCG)


def _request_ndcg(gain_key: str, top_k_list: Optional[List[int]] = None, name: str = NDCG_NAME,
                  eval_config: Optional[config_pb2.EvalConfig] = None,
                  model_names: Optional[List[str]] = None,
                  output_names: Optional[List[str]] = None,
                  sub_keys: Optional[List[metric_types.SubKey]] = None,
                  example_weighted: bool = False,
                  query_key: str = '') -> metric_types.MetricComputations:
  """One computation per (model, output), computing every top k."""
  top_ks = [sub_key.top_k for sub_key in sub_keys or [] if sub_key is not None]
  top_ks += [k for k in top_k_list or [] if k not in top_ks]
  if not top_ks or any(k is None or k < 1 for k in top_ks):
    raise ValueError(f'NDCG needs top k values of at least 1 (top_k_list or the MetricsSpec\'s '
                     f'binarize.top_k_list), got {top_ks or "none"}')
  computations = []
  for model_name in model_names or ['']:
    for output_name in output_names or ['']:
      metric_keys = [metric_types.MetricKey(name, model_name=model_name, output_name=output_name,
                                            sub_key=metric_types.SubKey(top_k=k),
                                            example_weighted=example_weighted)
                     for k in top_ks]
      computations.append(metric_types.MetricComputation(
          keys=metric_keys,
          preprocessors=[requests.RequestPreprocessor(
              f'{name}@{",".join(map(str, top_ks))}', _Summary(gain_key, top_ks), eval_config,
              model_name, output_name, example_weighted, feature_keys=[gain_key],
              grouped_by_query_key=bool(query_key))],
          combiner=requests.WeightedMeanCombiner(metric_keys)))
  return computations


def ndcg_at(gains: np.ndarray, scores: np.ndarray, top_ks: np.ndarray) -> np.ndarray:
  """NDCG@k of one request for each k in `top_ks` (0 where the ideal DCG is 0)."""
  ranked = gains[np.argsort(scores)[::-1]].astype(np.float64)
  ideal = np.sort(gains)[::-1].astype(np.float64)
  discounts = np.log2(np.arange(2, gains.size + 2))
  last = np.minimum(top_ks, gains.size) - 1
  dcg = np.cumsum(ranked / discounts)[last]
  ideal_dcg = np.cumsum(ideal / discounts)[last]
  return np.divide(dcg, ideal_dcg, out=np.zeros_like(dcg), where=ideal_dcg > 0)


class _Summary:
  """One request's weight and weighted NDCG@k (None for a request with nothing to rank)."""

  def __init__(self, gain_key: str, top_ks: List[int]):
    self._gain_key = gain_key
    self._top_ks = np.asarray(top_ks)

  def __call__(self, request: requests.RequestInputs) -> Optional[Tuple[float, np.ndarray]]:
    gains = request.features[self._gain_key]
    if gains.size == 0 or gains.max() <= 0 or request.weight == 0:
      return None
    return request.weight, ndcg_at(gains, request.predictions, self._top_ks) * request.weight
