"""Has the data moved since the model in production was trained? TFDV's drift comparators on
this run's `train` statistics against those of the run that pushed the production model.

The registry records each version's StatisticsGen output (RegistryPusher), so the comparison is
always against what the served model learned from, not against whichever run happened last.
Categorical features are compared by the L-infinity distance of their value shares, numeric ones
by the Jensen-Shannon divergence of their histograms, as TFDV computes them. Identifiers and
times (request_id, user_id, timestamp, span) are left out: they differ by construction.
"""
import importlib.resources
import os
from typing import Dict, List, Optional

from recfusion.keys import TRAIN_SPLIT

CATEGORICAL = ('request_type', 'user_segment', 'history_bucket', 'category', 'brand',
               'item_id', 'query')
NUMERIC = ('price', 'position', 'history_length', 'gain', 'engaged')
# TFDV's own examples use 0.01 on L-infinity for a handful of categories; shop features with
# thousands of items move more than that from one week to the next, so flag a tenth.
THRESHOLD = 0.1
_MEASURES = {1: 'L-infinity', 2: 'Jensen-Shannon'}  # DriftSkewInfo.Measurement.Type


def statistics_file(statistics_uri: str, split: str = TRAIN_SPLIT) -> str:
  """Where StatisticsGen writes one split's statistics."""
  return os.path.join(statistics_uri, f'Split-{split}', 'FeatureStats.pb')


def _summary(statistics, feature: str) -> str:
  """One feature in a few words: a numeric one's mean, a categorical one's distinct values and
  its most common value's share."""
  for candidate in statistics.datasets[0].features:
    if '.'.join(candidate.path.step) != feature:
      continue
    if candidate.HasField('num_stats'):
      return f'mean {candidate.num_stats.mean:.4g}'
    strings = candidate.string_stats
    top = strings.top_values[0] if strings.top_values else None
    total = strings.common_stats.tot_num_values or None
    share = f' ({top.frequency / total:.0%})' if top and total else ''
    return f'{strings.unique} values' + (f', top {top.value!r}{share}' if top else '')
  return '-'


def compare(current_uri: str, production_uri: str, threshold: float = THRESHOLD) -> List[Dict]:
  """One row per compared feature, the largest distance first: feature, measure, value,
  threshold, drifted, this_run and production (a few words each)."""
  import tensorflow_data_validation as tfdv  # only where a report is built
  current = tfdv.load_stats_binary(statistics_file(current_uri))
  production = tfdv.load_stats_binary(statistics_file(production_uri))
  schema = tfdv.load_schema_text(
      str(importlib.resources.files('recfusion.schemas').joinpath('schema.pbtxt')))
  for name in CATEGORICAL:
    tfdv.get_feature(schema, name).drift_comparator.infinity_norm.threshold = threshold
  for name in NUMERIC:
    tfdv.get_feature(schema, name).drift_comparator.jensen_shannon_divergence.threshold = (
        threshold)
  anomalies = tfdv.validate_statistics(current, schema, previous_statistics=production)
  rows = []
  for info in anomalies.drift_skew_info:
    feature = '.'.join(info.path.step)
    for measurement in info.drift_measurements:
      rows.append({'feature': feature, 'measure': _MEASURES.get(measurement.type, 'distance'),
                   'value': measurement.value, 'threshold': measurement.threshold,
                   'drifted': measurement.value > measurement.threshold,
                   'this_run': _summary(current, feature),
                   'production': _summary(production, feature)})
  return sorted(rows, key=lambda row: -row['value'])


def against_production(current_uri: Optional[str], production_uri: Optional[str],
                       version: Optional[int]) -> Dict:
  """{'version', 'rows'} or {'version', 'note'} saying why there is no comparison; {} when
  there is no production model."""
  if version is None:
    return {}
  if not current_uri:
    return {'version': version, 'note': 'this run has no statistics'}
  if not production_uri:
    return {'version': version, 'note': f'version {version} was pushed without its data '
                                        'statistics (before recfusion recorded them)'}
  import tensorflow as tf
  if not tf.io.gfile.exists(statistics_file(production_uri)):
    return {'version': version, 'note': f'the statistics of version {version} are gone '
                                        f'({production_uri})'}
  return {'version': version, 'rows': compare(current_uri, production_uri)}
