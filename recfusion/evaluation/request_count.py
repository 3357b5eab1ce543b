"""The number of requests (queries) and of candidates (examples) in a slice, as TFMA
metrics over requests (each input one request: see mrr.py). Counts carry no interval: they are the slice's size, not an estimate.

TFMA's own QueryStatistics builds its computation for one model name only, so in an EvalConfig
with a baseline it fails on the first query (the labels arrive keyed by model name). This one
follows the pattern of mrr.py: one computation per (model, output), one `add_input` per query.
The gate reads it (recfusion/evaluation/gate.py: too few eval requests say nothing).
TFMA's ExampleCount counts extracts, here requests, so the candidates have their own metric.
"""
from typing import Dict, Iterable, Iterator, List, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from recfusion.evaluation import requests

REQUESTS_NAME = 'requests'
EXAMPLES_NAME = 'example_count'  # the name of TFMA's ExampleCount key, which the report reads


class _Count(metric_types.Metric):
  """A size, not an estimate: TFMA's jackknife gives it no interval."""

  @property
  def compute_confidence_interval(self) -> bool:
    return False


class RequestCount(_Count):
  """How many requests the slice holds."""

  def __init__(self, name: str = REQUESTS_NAME):
    super().__init__(_request_count, name=name)


class CandidateCount(_Count):
  """How many examples (candidates) the slice's requests hold."""

  def __init__(self, name: str = EXAMPLES_NAME):
    super().__init__(_candidate_count, name=name)


metric_types.register_metric(RequestCount)
metric_types.register_metric(CandidateCount)


def _request_count(name: str = REQUESTS_NAME,
                   eval_config: Optional[config_pb2.EvalConfig] = None,
                   model_names: Optional[List[str]] = None,
                   output_names: Optional[List[str]] = None,
                   query_key: str = '') -> metric_types.MetricComputations:
  del eval_config  # the count needs neither labels nor predictions
  return [metric_types.MetricComputation(
      keys=[key], preprocessors=[_RequestsPreprocessor(key, bool(query_key))],
      combiner=_CountCombiner(key)) for key in _keys(name, model_names, output_names)]


def _candidate_count(name: str = EXAMPLES_NAME,
                     eval_config: Optional[config_pb2.EvalConfig] = None,
                     model_names: Optional[List[str]] = None,
                     output_names: Optional[List[str]] = None) -> metric_types.MetricComputations:
  return [metric_types.MetricComputation(
      keys=[key], preprocessors=[_CandidatesPreprocessor(key, eval_config)],
      combiner=_CandidateCombiner(key)) for key in _keys(name, model_names, output_names)]


def _keys(name: str, model_names: Optional[List[str]], output_names: Optional[List[str]]
          ) -> List[metric_types.MetricKey]:
  """One key per (model, output) pair."""
  return [metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name)
          for model_name in model_names or [''] for output_name in output_names or ['']]


class _CountCombiner(beam.CombineFn):
  """One input element is one request."""

  def __init__(self, key: metric_types.MetricKey):
    self._key = key

  def create_accumulator(self) -> int:
    return 0

  def add_input(self, accumulator: int, element) -> int:
    del element  # one request
    return accumulator + 1

  def merge_accumulators(self, accumulators: Iterable[int]) -> int:
    return sum(accumulators)

  def extract_output(self, accumulator: int) -> Dict[metric_types.MetricKey, float]:
    return {self._key: float(accumulator)}


class _RequestsPreprocessor(metric_types.Preprocessor):
  """1 per whole request; single candidates are refused (requests.py)."""

  def __init__(self, key: metric_types.MetricKey, grouped_by_query_key: bool):
    super().__init__(name=f'_requests_preprocessor:model={key.model_name},'
                          f'output={key.output_name}')
    self._grouped_by_query_key = grouped_by_query_key

  def process(self, extracts) -> Iterator[int]:
    requests.check_whole_request(extracts, self._grouped_by_query_key, 'RequestCount')
    yield 1


class _CandidatesPreprocessor(metric_types.Preprocessor):
  """How many candidates one request holds (its predictions), once per request (requests.py)."""

  def __init__(self, key: metric_types.MetricKey, eval_config: Optional[config_pb2.EvalConfig]):
    super().__init__(name=f'_candidates_preprocessor:model={key.model_name},'
                          f'output={key.output_name}')
    self._key = key
    self._eval_config = eval_config

  def process(self, extracts) -> Iterator[int]:
    plain = requests.plain_predictions(extracts, self._key.model_name, self._key.output_name)
    if plain is not None:  # TFMA's reading costs ~50 µs a request (requests.py)
      yield plain.size
      return
    inputs = metric_util.to_standard_metric_inputs(extracts, include_labels=False)
    _, predictions, _ = next(metric_util.to_label_prediction_example_weight(
        inputs, eval_config=self._eval_config, model_name=self._key.model_name,
        output_name=self._key.output_name, flatten=False, allow_none=True))
    yield int(np.size(predictions))


class _CandidateCombiner(_CountCombiner):
  """One input element is one request's candidate count."""

  def add_input(self, accumulator: int, candidates: int) -> int:
    return accumulator + candidates
