"""TFMA's default extractors plus one that drops what no metric reads, before TFMA unbatches.

TFMA carries every decoded feature and each example's serialized bytes through its per-example
stages: a Beam shuffle groups each request's candidates (GroupByKey, every element pickled),
the group's features are merged key by key, and each request is copied once per slice. None of
the metrics reads the text, history or price features, nor the raw bytes once the models have
scored them. Dropping them where the extracts are still batched (one dict per batch) leaves the
per-example stages only the labels, predictions, and the handful of features the EvalConfig
names (query key, labels, slices) or a metric of ours reads (diversity's item, category, brand).

The TFX Evaluator looks this module up by `module_path` (its `custom_extractors` hook): the
executor sets it, the component spec does not expose it.
"""
from typing import FrozenSet, Iterable, List, Optional

import apache_beam as beam
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants

from recfusion.evaluation import diversity

SLIM_STAGE_NAME = 'DropUnreadFeatures'
UNBATCH_STAGE_NAME = 'ExtractUnbatchedInputs'
# Features a metric reads through its own preprocessor, which the EvalConfig does not name.
METRIC_FEATURES = (diversity.ITEM_KEY, diversity.CATEGORY_KEY, diversity.BRAND_KEY)


def features_read(eval_config: tfma.EvalConfig,
                  metric_features: Iterable[str] = METRIC_FEATURES) -> FrozenSet[str]:
  """The features TFMA reads for `eval_config`: labels, example weights, query keys, slices,
  plus `metric_features`."""
  names = set(metric_features)
  for spec in eval_config.model_specs:
    if spec.label_key:
      names.add(spec.label_key)
    names.update(spec.label_keys.values())
    if spec.example_weight_key:
      names.add(spec.example_weight_key)
    names.update(spec.example_weight_keys.values())
  for spec in eval_config.metrics_specs:
    if spec.query_key:
      names.add(spec.query_key)
  for spec in list(eval_config.slicing_specs) + [
      s for cross in eval_config.cross_slicing_specs
      for s in [cross.baseline_spec, *cross.slicing_specs]]:
    names.update(spec.feature_keys)
    names.update(spec.feature_values.keys())
  return frozenset(names)


def slim(batched_extracts: tfma.Extracts, keep: FrozenSet[str]) -> tfma.Extracts:
  """A shallow copy of one batch's extracts without the raw inputs, the transformed features
  and the features outside `keep`."""
  result = {key: value for key, value in batched_extracts.items()
            if key not in (constants.INPUT_KEY, constants.TRANSFORMED_FEATURES_KEY)}
  features = result.get(constants.FEATURES_KEY)
  if isinstance(features, dict):
    result[constants.FEATURES_KEY] = {k: v for k, v in features.items() if k in keep}
  return result


def slim_extractor(keep: FrozenSet[str]) -> tfma.extractors.Extractor:
  return tfma.extractors.Extractor(
      stage_name=SLIM_STAGE_NAME,
      ptransform=beam.Map(slim, keep))


def custom_extractors(eval_shared_model=None, eval_config: Optional[tfma.EvalConfig] = None,
                      tensor_adapter_config=None) -> List[tfma.extractors.Extractor]:
  """The TFX Evaluator's hook: TFMA's default extractors with `slim` before the unbatching."""
  extractors = tfma.default_extractors(eval_shared_model=eval_shared_model,
                                       eval_config=eval_config,
                                       tensor_adapter_config=tensor_adapter_config)
  stages = [extractor.stage_name for extractor in extractors]
  if UNBATCH_STAGE_NAME not in stages:
    raise ValueError(f'TFMA extractors have no {UNBATCH_STAGE_NAME} stage: {stages}')
  extractors.insert(stages.index(UNBATCH_STAGE_NAME), slim_extractor(features_read(eval_config)))
  return extractors
