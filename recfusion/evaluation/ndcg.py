"""NDCG@k over requests, as TFMA's NDCG computes it, for every k of a request in one pass.

TFMA's NDCG needs `MetricsSpec.query_key` (the evaluator then groups candidates itself, per
example; the Evaluator's extractors already hand it one extract per request, extractors.py), and
it sorts and sums a request's gains once for each k and each slice. This metric takes each
input as one request, ranks it once (requests.py: before TFMA fans it out to slices) and reads
every k off one cumulative sum; unweighted, one computation covers every output of a MetricsSpec
(the rankers' NDCG@10: the request read and its ideal ranking computed once, not once per
ranker). Its numbers are TFMA's (tested against its combiner):

  NDCG@k = DCG@k / ideal DCG@k,  DCG@k = sum over the first min(k, n) candidates ranked by
  score (descending, ties as numpy's argsort reversed) of gain / log2(rank + 1);

a request whose gains are all <= 0 weighs 0 (it has nothing to rank), and the metric is the
weighted mean over requests (the request's example weight when example weighted, else 1).

  tfma.MetricsSpec(output_names=['score'], binarize=tfma.BinarizationOptions(
      top_k_list={'values': [5, 10]}), metrics=[tfma.MetricConfig(
          class_name='RequestNDCG', module='recfusion.evaluation.ndcg',
          config='"gain_key": "gain"')])
"""
import functools
from typing import List, Optional, Sequence, Tuple

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
  """One computation per model computing every top k of every output (per (model, output)
  when example weighted: each output may then have its own weights)."""
  top_ks = [sub_key.top_k for sub_key in sub_keys or [] if sub_key is not None]
  top_ks += [k for k in top_k_list or [] if k not in top_ks]
  if not top_ks or any(k is None or k < 1 for k in top_ks):
    raise ValueError(f'NDCG needs top k values of at least 1 (top_k_list or the MetricsSpec\'s '
                     f'binarize.top_k_list), got {top_ks or "none"}')
  outputs = list(output_names or [''])
  # Unweighted, every output of a request weighs the same: 1, or 0 when its gains leave
  # nothing to rank (the gains are the request's, not an output's).
  groups = [[output] for output in outputs] if example_weighted else [outputs]
  computations = []
  for model_name in model_names or ['']:
    for group in groups:
      metric_keys = [metric_types.MetricKey(name, model_name=model_name, output_name=output,
                                            sub_key=metric_types.SubKey(top_k=k),
                                            example_weighted=example_weighted)
                     for output in group for k in top_ks]
      computations.append(metric_types.MetricComputation(
          keys=metric_keys,
          preprocessors=[requests.OutputsRequestPreprocessor(
              f'{name}@{",".join(map(str, top_ks))}', _Summary(gain_key, top_ks), eval_config,
              model_name, group, example_weighted, feature_keys=[gain_key],
              grouped_by_query_key=bool(query_key))],
          combiner=requests.WeightedMeanCombiner(metric_keys)))
  return computations


@functools.lru_cache(maxsize=None)
def _discounts(size: int) -> np.ndarray:
  """log2(rank + 1) of ranks 1..size (read only: shared by every request of that size)."""
  discounts = np.log2(np.arange(2, size + 2))
  discounts.setflags(write=False)
  return discounts


def ndcg_at(gains: np.ndarray, scores: np.ndarray, top_ks: np.ndarray) -> np.ndarray:
  """NDCG@k of one request for each k in `top_ks` (0 where the ideal DCG is 0)."""
  return ndcg_of_each(gains, [scores], top_ks)


def ndcg_of_each(gains: np.ndarray, scores_of_outputs: Sequence[np.ndarray],
                 top_ks: np.ndarray) -> np.ndarray:
  """NDCG@k of one request for each output's scores and each k in `top_ks`, output after
  output (0 where the ideal DCG is 0): the ideal ranking is the request's, computed once."""
  gains = gains.astype(np.float64)
  discounts = _discounts(gains.size)
  last = np.minimum(top_ks, gains.size) - 1
  ideal_dcg = np.cumsum(np.sort(gains)[::-1] / discounts)[last]
  dcg = np.concatenate([np.cumsum(gains[np.argsort(scores)[::-1]] / discounts)[last]
                        for scores in scores_of_outputs])
  ideal_dcg = np.tile(ideal_dcg, len(scores_of_outputs))
  return np.divide(dcg, ideal_dcg, out=np.zeros_like(dcg), where=ideal_dcg > 0)


class _Summary:
  """One request's weight and weighted NDCG@k of each output (None for a request with nothing
  to rank)."""

  def __init__(self, gain_key: str, top_ks: List[int]):
    self._gain_key = gain_key
    self._top_ks = np.asarray(top_ks)

  def __call__(self, outputs: Sequence[requests.RequestInputs]
               ) -> Optional[Tuple[float, np.ndarray]]:
    request = outputs[0]
    gains = request.features[self._gain_key]
    if gains.size == 0 or gains.max() <= 0 or request.weight == 0:
      return None
    values = ndcg_of_each(gains, [output.predictions for output in outputs], self._top_ks)
    return request.weight, values * request.weight
