"""Component tests: the strict ExampleValidator executor on real TFDV statistics."""
import os

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
import tfx
from tfx.types import artifact_utils, standard_artifacts

from recfusion.data import join
from recfusion.components.strict_example_validator import executor as strict
from recfusion.pipeline.factory import curated_schema_path

CATALOG = {'a': join.CatalogItem('red shoe', 'shoes', 'x', 9.5),
           'b': join.CatalogItem('blue pan', 'kitchen', 'y', 3.0)}


def _examples(request_type=None):
  request = join.summarize_request('r1', [
      (5, 'u1', 'red shoe', 'a', 0, 0.0, 'impression', 0),
      (5, 'u1', 'red shoe', 'b', 1, 0.0, 'impression', 0),
      (6, 'u1', 'red shoe', 'a', 0, 1.0, 'click', 0)])
  examples = join.build_examples(request, ['b'], CATALOG, {'u1': 'budget'})
  if request_type:
    for example in examples:
      example.features.feature['request_type'].bytes_list.value[:] = [request_type.encode()]
  return examples


def _run(tmp_path, examples):
  records = str(tmp_path / 'examples.tfrecord')
  with tf.io.TFRecordWriter(records) as writer:
    for example in examples:
      writer.write(example.SerializeToString())
  statistics = standard_artifacts.ExampleStatistics()
  statistics.uri = str(tmp_path / 'statistics')
  statistics.split_names = artifact_utils.encode_split_names(['train'])
  statistics.set_string_custom_property('tfx_version', tfx.__version__)
  split_dir = artifact_utils.get_split_uri([statistics], 'train')
  os.makedirs(split_dir)
  stats = tfdv.generate_statistics_from_tfrecord(records)
  with open(os.path.join(split_dir, 'FeatureStats.pb'), 'wb') as f:
    f.write(stats.SerializeToString())
  schema = standard_artifacts.Schema()
  schema.uri = str(tmp_path / 'schema')
  os.makedirs(schema.uri)
  with open(curated_schema_path()) as src, open(os.path.join(schema.uri, 'schema.pbtxt'),
                                                'w') as dst:
    dst.write(src.read())
  anomalies = standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path / 'anomalies')
  strict.Executor().Do({'statistics': [statistics], 'schema': [schema]},
                       {'anomalies': [anomalies]}, {'exclude_splits': '[]'})
  return anomalies


def test_clean_examples_pass_and_record_no_anomalies(tmp_path):
  anomalies = _run(tmp_path, _examples())
  recorded = strict.read_anomalies(anomalies)['train']
  assert not recorded.anomaly_info


def test_anomalies_stop_the_run_with_a_readable_list(tmp_path):
  with pytest.raises(strict.DataAnomaliesError) as error:
    _run(tmp_path, _examples(request_type='browse'))
  message = str(error.value)
  assert 'the run stops before Transform' in message
  assert "[train] feature 'request_type': Unexpected string values" in message
  assert 'browse' in message
