"""One request's arrays, summarized once per request for a metric, before TFMA fans it out.

TFMA's evaluator runs each computation's preprocessors once per extract (its `Preprocess`
step), then copies the extract to every slice it belongs to and calls the combiner's
`add_input` once per (slice, extract). A ranking metric's per-request work (sorting a request's
candidates by score, finding its first relevant one) is the same in every slice, so recfusion's
request metrics do it in a `RequestPreprocessor` and their combiners only add up the small
summary it yields: with three slicing specs that is a third of the sorting, and no TFMA input
unpacking per slice.

Each extract must be one whole request, so that `labels` and `predictions` are arrays with one
value per candidate: recfusion's extractors (extractors.py) mark the extracts they build so, or
the MetricsSpec sets a query_key and TFMA groups them itself. Anything else (TFMA's default
extractors without a query key hand metrics single candidates, and an NDCG or MRR of single
candidates is a silently wrong number) is refused.
"""
from collections import abc
from typing import (Any, Callable, Dict, Iterable, Iterator, Mapping, NamedTuple, Optional,
                    Sequence, Tuple, Union)

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2


WHOLE_REQUEST_KEY = 'recfusion_whole_request'


def mark_whole_request(extracts: Mapping[str, Any]) -> Dict[str, Any]:
  """`extracts` marked as one whole request (what extractors.py hands TFMA)."""
  return {**extracts, WHOLE_REQUEST_KEY: True}


def check_whole_request(extracts: Mapping[str, Any], grouped_by_query_key: bool,
                        metric: str) -> None:
  if not grouped_by_query_key and not extracts.get(WHOLE_REQUEST_KEY):
    raise ValueError(
        f'{metric} needs one extract per request: run TFMA with '
        f'recfusion.evaluation.extractors.custom_extractors (the Evaluator does), or set the '
        f'MetricsSpec.query_key; these extracts are single candidates')


class RequestInputs(NamedTuple):
  labels: np.ndarray  # one per candidate
  predictions: np.ndarray  # one per candidate, the (model, output) the metric is for
  weight: float  # the request's example weight (1 when not example weighted)
  features: Mapping[str, np.ndarray]  # the features the metric asked for, one value per candidate


def _select(tree: Any, model_name: str, output_name: str) -> Any:
  """The value of one (model, output) in TFMA's labels or predictions: keyed by model name
  when several models are evaluated, by output name when the model has several outputs."""
  # collections.abc's Mapping, not typing's: isinstance against typing's goes through its
  # __instancecheck__ first, several times slower, and this runs per request and metric.
  value = tree
  if model_name and isinstance(value, abc.Mapping) and model_name in value:
    value = value[model_name]
  if output_name and isinstance(value, abc.Mapping):
    value = value.get(output_name)
  return value


def _plain(value: Any) -> Optional[np.ndarray]:
  """`value` flat when it is a plain numeric array of one value per candidate, else None."""
  if (not isinstance(value, np.ndarray) or value.dtype.kind not in 'biuf' or value.ndim == 0
      or value.size != len(value)):
    return None
  return value.reshape(-1)


def plain_predictions(extracts: Mapping[str, Any], model_name: str, output_name: str
                      ) -> Optional[np.ndarray]:
  """One request's predictions of one (model, output) when they are a plain numeric array of
  one value per candidate (the Evaluator's case), else None (TFMA's reading is needed)."""
  return _plain(_select(extracts.get(constants.PREDICTIONS_KEY), model_name, output_name))


def _plain_arrays(extracts: Mapping[str, Any], model_name: str, output_name: str
                  ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
  """(labels, predictions) when both are plain numeric arrays of one value per candidate, the
  Evaluator's case; None where TFMA's own reading is needed (label vocabularies, class ids,
  dict outputs, example weights, ...)."""
  if extracts.get(constants.EXAMPLE_WEIGHTS_KEY) is not None:
    return None
  labels = _plain(_select(extracts.get(constants.LABELS_KEY), model_name, output_name))
  predictions = plain_predictions(extracts, model_name, output_name)
  if labels is None or predictions is None:
    return None
  return labels, predictions


def labels_predictions_weights(extracts: Mapping[str, Any],
                               eval_config: Optional[config_pb2.EvalConfig], model_name: str,
                               output_name: str, example_weighted: bool,
                               single_weight: bool = True
                               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Labels, predictions and example weights of one (model, output) for one request, the
  candidates kept as arrays (the weights: one value, or one per candidate unless
  `single_weight`). Read directly when labels and predictions are plain arrays without example
  weights, else by TFMA's `to_label_prediction_example_weight` (the same values, tested; it
  costs ~50 µs a call in Python, which per request and metric was a third of the Evaluator's
  metric time)."""
  plain = _plain_arrays(extracts, model_name, output_name)
  if plain is not None:
    return plain[0], plain[1], np.ones(1)
  inputs = metric_util.to_standard_metric_inputs(extracts)
  labels, predictions, weights = next(metric_util.to_label_prediction_example_weight(
      inputs, eval_config=eval_config, model_name=model_name, output_name=output_name,
      example_weighted=example_weighted, flatten=False,
      require_single_example_weight=single_weight))
  return (np.asarray(labels).reshape(-1), np.asarray(predictions).reshape(-1),
          np.asarray(weights, np.float64).reshape(-1))


def request_inputs(extracts: Mapping[str, Any], eval_config: Optional[config_pb2.EvalConfig],
                   model_name: str, output_name: str, example_weighted: bool,
                   feature_keys: Sequence[str] = ()) -> RequestInputs:
  """`labels_predictions_weights` with one weight for the request, and `feature_keys`."""
  labels, predictions, weights = labels_predictions_weights(
      extracts, eval_config, model_name, output_name, example_weighted)
  weight = float(weights[0])
  if labels.size != predictions.size:
    raise ValueError(f'one label per prediction expected, got {labels.size} labels and '
                     f'{predictions.size} predictions of {output_name or "the output"} of '
                     f'{model_name or "the model"}')
  features = {}
  all_features = extracts.get(constants.FEATURES_KEY) or {}
  for key in feature_keys:
    if key not in all_features:
      raise ValueError(f'the eval examples have no {key!r} feature '
                       f'(features: {sorted(all_features)})')
    features[key] = np.asarray(all_features[key]).reshape(-1)
    if features[key].size != predictions.size:
      raise ValueError(f'one {key!r} per prediction expected, got {features[key].size} for '
                       f'{predictions.size} predictions')
  return RequestInputs(labels, predictions, weight, features)


def outputs_inputs(extracts: Mapping[str, Any], eval_config: Optional[config_pb2.EvalConfig],
                   model_name: str, output_names: Sequence[str], example_weighted: bool,
                   feature_keys: Sequence[str] = ()) -> Tuple[RequestInputs, ...]:
  """`request_inputs` of each of `output_names`, the features read once (the same request:
  every output has as many predictions)."""
  first = request_inputs(extracts, eval_config, model_name, output_names[0], example_weighted,
                         feature_keys)
  result = [first]
  for output_name in output_names[1:]:
    inputs = request_inputs(extracts, eval_config, model_name, output_name, example_weighted)
    if inputs.predictions.size != first.predictions.size:
      raise ValueError(f'{output_name} has {inputs.predictions.size} predictions where '
                       f'{output_names[0]} has {first.predictions.size}')
    result.append(inputs._replace(features=first.features))
  return tuple(result)


class RequestPreprocessor(metric_types.Preprocessor):
  """Yields `summarize(request inputs)` for one (metric, model, output) per request."""

  def __init__(self, metric_name: str, summarize: Callable[[RequestInputs], Any],
               eval_config: Optional[config_pb2.EvalConfig], model_name: str,
               output_name: str, example_weighted: bool, feature_keys: Sequence[str] = (),
               grouped_by_query_key: bool = False):
    # TFMA tells preprocessors apart by name.
    super().__init__(name=f'_{metric_name}_request_preprocessor:model={model_name},'
                          f'output={output_name},weighted={example_weighted}')
    self._summarize = summarize
    self._eval_config = eval_config
    self._model_name = model_name
    self._output_name = output_name
    self._example_weighted = example_weighted
    self._feature_keys = tuple(feature_keys)
    self._metric_name = metric_name
    self._grouped_by_query_key = grouped_by_query_key

  def _read(self, extracts: Mapping[str, Any]) -> Any:
    return request_inputs(extracts, self._eval_config, self._model_name, self._output_name,
                          self._example_weighted, self._feature_keys)

  def process(self, extracts: Mapping[str, Any]) -> Iterator[Any]:
    check_whole_request(extracts, self._grouped_by_query_key, self._metric_name)
    try:
      inputs = self._read(extracts)
    except ValueError as error:
      raise ValueError(f'{self.name}: {error}') from error
    yield self._summarize(inputs)


class OutputsRequestPreprocessor(RequestPreprocessor):
  """Yields `summarize(the request inputs of each output)` for one (metric, model) per
  request: one pass over a request for a metric of several outputs (NDCG@10 of every ranker),
  where each output would otherwise cost a preprocessor call, a read of the request and, in
  each slice, a combiner call of its own."""

  def __init__(self, metric_name: str,
               summarize: Callable[[Tuple[RequestInputs, ...]], Any],
               eval_config: Optional[config_pb2.EvalConfig], model_name: str,
               output_names: Sequence[str], example_weighted: bool,
               feature_keys: Sequence[str] = (), grouped_by_query_key: bool = False):
    if not output_names:
      raise ValueError(f'{metric_name}: no output names')
    super().__init__(metric_name, summarize, eval_config, model_name, ','.join(output_names),
                     example_weighted, feature_keys, grouped_by_query_key)
    self._output_names = tuple(output_names)

  def _read(self, extracts: Mapping[str, Any]) -> Tuple[RequestInputs, ...]:
    return outputs_inputs(extracts, self._eval_config, self._model_name, self._output_names,
                          self._example_weighted, self._feature_keys)


class _WeightedSums:
  __slots__ = ['values', 'weight']

  def __init__(self, size: int):
    self.values = np.zeros(size)
    self.weight = 0.0


# How merged sums travel between Beam stages: (weight, the weighted values) in Python floats,
# which Beam's coder writes itself (0.4 us a round trip) where it pickles a _WeightedSums
# (11 us). The jackknife (jackknife.py) writes and reads every (slice, partition)'s merged
# accumulator, each a list of these, between its shuffles.
TravellingSums = Tuple[float, Tuple[float, ...]]


class WeightedMeanCombiner(beam.CombineFn):
  """The weighted mean over requests of per-request values, one per key: each input is a
  request's (weight, its values times the weight), or None for a request that does not count.
  NaN with nothing to average, as TFMA's own metrics."""

  def __init__(self, keys: Sequence[metric_types.MetricKey]):
    self._keys = list(keys)

  def create_accumulator(self) -> _WeightedSums:
    return _WeightedSums(len(self._keys))

  def _summing(self, accumulator: Union[_WeightedSums, TravellingSums]) -> _WeightedSums:
    if isinstance(accumulator, _WeightedSums):
      return accumulator
    result = self.create_accumulator()
    result.weight, result.values[:] = accumulator
    return result

  def add_input(self, accumulator: Union[_WeightedSums, TravellingSums],
                summary: Optional[Tuple[float, Any]]) -> _WeightedSums:
    accumulator = self._summing(accumulator)
    if summary is not None:
      weight, weighted_values = summary
      accumulator.values += weighted_values
      accumulator.weight += weight
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[Union[_WeightedSums, TravellingSums]]
                         ) -> TravellingSums:
    # New sums: under the jackknife one partition's accumulator is an input of many merges.
    result = self.create_accumulator()
    for accumulator in accumulators:
      weight, values = ((accumulator.weight, accumulator.values)
                        if isinstance(accumulator, _WeightedSums) else accumulator)
      result.weight += weight
      result.values += values
    return self.compact(result)

  def compact(self, accumulator: Union[_WeightedSums, TravellingSums]) -> TravellingSums:
    if isinstance(accumulator, _WeightedSums):
      return float(accumulator.weight), tuple(accumulator.values.tolist())
    return accumulator

  def extract_output(self, accumulator: Union[_WeightedSums, TravellingSums]
                     ) -> Dict[metric_types.MetricKey, float]:
    accumulator = self._summing(accumulator)
    if accumulator.weight > 0:
      means = accumulator.values / accumulator.weight
      return {key: float(mean) for key, mean in zip(self._keys, means)}
    return {key: float('nan') for key in self._keys}
