"""Runs a TFMA metric computation on hand-built requests the way TFMA's evaluator does, for the
metric modules' tests: each request's extracts through the computation's preprocessors once
(TFMA's default inputs when it has none), then the combiner over their outputs."""
from typing import Any, Dict, Iterable, List, Mapping

from tensorflow_model_analysis.metrics import metric_types, metric_util


def preprocess(extracts: Mapping[str, Any],
               computation: metric_types.MetricComputation) -> List[Any]:
  """The combiner's inputs for one extract."""
  if not computation.preprocessors:
    return [metric_util.to_standard_metric_inputs(extracts, include_features=True)]
  outputs = [extracts]
  for preprocessor in computation.preprocessors:
    outputs = [output for item in outputs for output in preprocessor.process(item)]
  return outputs


def compute(computation: metric_types.MetricComputation,
            requests: Iterable[Mapping[str, Any]]) -> Dict[metric_types.MetricKey, Any]:
  """The computation's output over `requests` in one slice, without Beam."""
  combiner = computation.combiner
  accumulator = combiner.create_accumulator()
  for extracts in requests:
    for item in preprocess(extracts, computation):
      accumulator = combiner.add_input(accumulator, item)
  return combiner.extract_output(combiner.merge_accumulators([accumulator]))
