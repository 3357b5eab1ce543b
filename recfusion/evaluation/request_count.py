"""The number of requests (queries) in a slice, as a TFMA query-based metric.

TFMA's own QueryStatistics builds its computation for one model name only, so in an EvalConfig
with a baseline it fails on the first query (the labels arrive keyed by model name). This one
follows the pattern of mrr.py: one computation per (model, output), one `add_input` per query.
The gate reads it (recfusion/evaluation/gate.py: too few eval requests say nothing).
"""
from typing import Dict, Iterable, List, Optional

import apache_beam as beam
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.proto import config_pb2

REQUESTS_NAME = 'requests'


class RequestCount(metric_types.Metric):
  """How many queries the slice holds (a query_key is required)."""

  def __init__(self, name: str = REQUESTS_NAME):
    super().__init__(_request_count, name=name)


metric_types.register_metric(RequestCount)


def _request_count(name: str = REQUESTS_NAME,
                   eval_config: Optional[config_pb2.EvalConfig] = None,
                   model_names: Optional[List[str]] = None,
                   output_names: Optional[List[str]] = None,
                   query_key: str = '') -> metric_types.MetricComputations:
  del eval_config  # the count needs neither labels nor predictions
  if not query_key:
    raise ValueError('a query_key is required to count requests')
  return [metric_types.MetricComputation(keys=[key], preprocessors=None,
                                         combiner=_CountCombiner(key))
          for key in (metric_types.MetricKey(name=name, model_name=model_name,
                                             output_name=output_name)
                      for model_name in model_names or ['']
                      for output_name in output_names or [''])]


class _CountCombiner(beam.CombineFn):
  """One input element is one merged query."""

  def __init__(self, key: metric_types.MetricKey):
    self._key = key

  def create_accumulator(self) -> int:
    return 0

  def add_input(self, accumulator: int, element) -> int:
    del element
    return accumulator + 1

  def merge_accumulators(self, accumulators: Iterable[int]) -> int:
    return sum(accumulators)

  def extract_output(self, accumulator: int) -> Dict[metric_types.MetricKey, float]:
    return {self._key: float(accumulator)}
