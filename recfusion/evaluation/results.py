"""Reading the Evaluator's outputs: headline metrics of a TFMA result and the gate's verdict."""
import dataclasses
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import tensorflow_model_analysis as tfma
from tfx.dsl.io import fileio

from recfusion.evaluation.gate import Interval
from recfusion.evaluation.request_count import REQUESTS_NAME
from recfusion.keys import PROBABILITY_KEY, SCORE_KEY

# The gate's coverage check (gate.coverage_vs_baseline) reads this one of diversity.py's metrics.
COVERAGE_NAME = 'coverage@10'


def metric_name(key) -> Optional[str]:
  name = key.name
  if key.sub_key and key.sub_key.HasField('top_k'):
    name = f'{name}@{key.sub_key.top_k.value}'
  return name


# A TFMA result: its folder, or its metrics already read by `load` (a reader that needs them
# several times reads the files once).
Evaluation = Union[str, Sequence[Any]]


def load(evaluation: Evaluation) -> Sequence[Any]:
  """Every slice's MetricsForSlice of a TFMA result, read once."""
  return list(tfma.load_metrics(evaluation)) if isinstance(evaluation, str) else evaluation


def metric_values(evaluation: Evaluation, baseline: bool = False
                  ) -> Iterator[Tuple[Any, Any, float]]:
  """(slice key, metric key, value) of every plain number TFMA computed for the candidate (or
  the baseline), per slice; diffs against the baseline and non-scalar values left out."""
  for per_slice in load(evaluation):
    for item in per_slice.metric_keys_and_values:
      key = item.key
      if bool(key.is_diff) or bool(key.model_name == 'baseline') != baseline:
        continue
      if item.value.HasField('double_value'):
        yield per_slice.slice_key, key, item.value.double_value.value


def overall_metrics(evaluation: Evaluation, baseline: bool = False
                    ) -> Dict[str, Dict[str, float]]:
  """{output name: {metric: value}} on the overall slice (candidate, or the baseline's)."""
  out: Dict[str, Dict[str, float]] = {}
  for slice_key, key, value in metric_values(evaluation, baseline):
    if not slice_key.single_slice_keys:
      out.setdefault(key.output_name, {})[metric_name(key)] = value
  return out


def headline(evaluation_uri: str) -> Dict[str, float]:
  """The few numbers a registry index or a run summary shows for the fused model."""
  metrics = overall_metrics(evaluation_uri)
  fused = metrics.get(SCORE_KEY, {})
  probability = metrics.get(PROBABILITY_KEY, {})
  wanted = {'ndcg@5': fused.get('ndcg@5'), 'ndcg@10': fused.get('ndcg@10'),
            'ndcg@20': fused.get('ndcg@20'), 'mrr': fused.get('mrr'),
            'auc': probability.get('auc'), 'calibration': probability.get('calibration'),
            'examples': probability.get('example_count')}
  return {k: v for k, v in wanted.items() if v is not None}


def failed_thresholds(evaluation_uri: str) -> List[str]:
  """Readable reasons why the gate rejected the model (empty when it passed)."""
  if not fileio.glob(os.path.join(evaluation_uri, 'validations*')):
    return []
  result = tfma.load_validation_result(evaluation_uri)
  reasons = []
  for per_slice in result.metric_validations_per_slice:
    for failure in per_slice.failures:
      threshold = failure.metric_threshold
      name = metric_name(failure.metric_key)
      kind = 'change vs baseline' if failure.metric_key.is_diff else 'value'
      bound = ''
      if threshold.HasField('value_threshold') and not failure.metric_key.is_diff:
        bound = f' (lower bound {threshold.value_threshold.lower_bound.value:g})'
      elif threshold.HasField('change_threshold'):
        bound = f' (allowed change {threshold.change_threshold.absolute.value:+g})'
      reasons.append(f'{name} {kind} {failure.metric_value.double_value.value:.4f}{bound}')
  return reasons


@dataclasses.dataclass(frozen=True)
class GateNumbers:
  """What the gate reads from a TFMA result, on the overall slice."""
  ndcg10: Interval  # the fused model's
  change: Optional[Interval]  # fused minus production; None without a baseline
  members: Dict[str, float]  # each member's own NDCG@10 on eval
  requests: Optional[int]
  # coverage@10 fused minus production (diversity.py); None without a baseline
  coverage_change: Optional[Interval] = None


def _interval(item) -> Interval:
  value = item.value.double_value.value
  if not item.HasField('confidence_interval'):
    return Interval.point(value)
  ci = item.confidence_interval
  return Interval(value, ci.lower_bound.double_value.value, ci.upper_bound.double_value.value)


def gate_numbers(evaluation: Evaluation) -> GateNumbers:
  ndcg10, change, members, requests, coverage_change = None, None, {}, None, None
  for per_slice in load(evaluation):
    if per_slice.slice_key.single_slice_keys:
      continue
    for item in per_slice.metric_keys_and_values:
      key = item.key
      if key.model_name == 'baseline' or not item.value.HasField('double_value'):
        continue
      name = metric_name(key)
      if name == REQUESTS_NAME and key.output_name == SCORE_KEY and not key.is_diff:
        requests = int(item.value.double_value.value)
      elif name == COVERAGE_NAME and key.output_name == SCORE_KEY and key.is_diff:
        coverage_change = _interval(item)
      elif name != 'ndcg@10':
        continue
      elif key.output_name == SCORE_KEY:
        if key.is_diff:
          change = _interval(item)
        else:
          ndcg10 = _interval(item)
      elif not key.is_diff and key.output_name != PROBABILITY_KEY:
        members[key.output_name] = item.value.double_value.value
  if ndcg10 is None:
    where = f' at {evaluation}' if isinstance(evaluation, str) else ''
    raise ValueError(f'the TFMA result{where} has no NDCG@10 of the fused score')
  return GateNumbers(ndcg10, change, members, requests, coverage_change)
