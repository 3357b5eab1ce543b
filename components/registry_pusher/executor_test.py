"""Component tests: RegistryPusher pushes blessed models only, and only ones that serve."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from recfusion import keys, ranking_metrics, registry, serving_check
from recfusion.components.registry_pusher import executor

# Two requests: the first ranks its engaged candidate second of three.
REQUESTS = [('r1', 0.0, 3.0), ('r1', 2.0, 2.0), ('r1', 0.0, 1.0),
            ('r2', 1.0, 5.0), ('r2', 0.0, 4.0)]


class _ScoreFeatureX(tf.Module):
  """A served model in miniature: the `x` feature is the score (NaN times it when broken, or
  another factor: 2 ranks the same, -1 ranks worse)."""

  def __init__(self, broken: bool = False, factor: float = 1.0):
    super().__init__()
    self._factor = float('nan') if broken else factor

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve(self, examples):
    x = tf.io.parse_example(examples, {'x': tf.io.FixedLenFeature([], tf.float32)})['x']
    score = x * self._factor
    return {keys.SCORE_KEY: score, keys.PROBABILITY_KEY: tf.sigmoid(score)}


def _example(request_id: str, gain: float, x: float) -> bytes:
  feature = {keys.REQUEST_ID_KEY: tf.train.Feature(
                 bytes_list=tf.train.BytesList(value=[request_id.encode()])),
             keys.LABEL_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=[gain])),
             'x': tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _served_ndcg10() -> float:
  ids, gains, x = (np.array(column) for column in zip(*REQUESTS))
  return ranking_metrics.ndcg_at_k(ids, gains, x, 10)


def _artifacts(tmp_path, blessed, broken=False):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / 'model')
  module = _ScoreFeatureX(broken)
  tf.saved_model.save(module, os.path.join(model.uri, 'Format-Serving'),
                      signatures={keys.SERVING_SIGNATURE: module.serve})
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / 'blessing')
  blessing.set_int_custom_property('blessed', int(blessed))
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  examples.set_string_custom_property('spans', '5,6')
  os.makedirs(os.path.join(examples.uri, 'Split-eval'))
  with tf.io.TFRecordWriter(os.path.join(examples.uri, 'Split-eval', 'part.gz'),
                            options='GZIP') as writer:
    for row in REQUESTS:
      writer.write(_example(*row))
  evaluation = standard_artifacts.ModelEvaluation()
  evaluation.uri = str(tmp_path / 'evaluation')
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / 'pushed')
  os.makedirs(pushed.uri)
  return ({'model': [model], 'model_blessing': [blessing], 'examples': [examples],
           'evaluation': [evaluation]}, {'pushed_model': [pushed]}, pushed)


@pytest.fixture
def evaluated(monkeypatch):
  """The Evaluator's numbers: NDCG@10 of the score as the tiny model serves it."""
  monkeypatch.setattr(executor.results, 'headline', lambda uri: {'ndcg@10': 0.61})
  monkeypatch.setattr(executor.results, 'overall_metrics',
                      lambda uri: {keys.SCORE_KEY: {'ndcg@10': _served_ndcg10()},
                                   keys.PROBABILITY_KEY: {'auc': 0.7}})


def test_a_model_that_is_not_blessed_is_not_pushed(tmp_path):
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=False)
  directory = str(tmp_path / 'registry')
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory})
  assert pushed.get_int_custom_property(keys.PUSHED) == 0
  assert not os.path.exists(directory)


def test_a_blessed_model_that_serves_becomes_the_next_version(tmp_path, evaluated):
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=True)
  directory = str(tmp_path / 'registry')
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory,
                                            'inputs_digest': 'abc123'})
  assert pushed.get_int_custom_property(keys.PUSHED) == 1
  assert pushed.get_string_custom_property(keys.PUSHED_VERSION) == '1'
  record = registry.latest(directory)
  assert (record.version, record.spans, record.metrics) == (1, [5, 6], {'ndcg@10': 0.61})
  # What the next run compares its own digest with ("nothing new").
  assert record.extra[keys.INPUTS_DIGEST] == 'abc123'
  assert os.path.exists(os.path.join(record.path, 'saved_model.pb'))
  smoke = json.loads(pushed.get_string_custom_property(keys.SERVING_CHECK))
  assert (smoke['examples'], smoke['requests']) == (5, 2)
  assert smoke['outputs'] == [keys.PROBABILITY_KEY, keys.SCORE_KEY]
  with open(os.path.join(pushed.uri, serving_check.CHECK_FILE)) as f:
    assert json.load(f) == smoke
  # Its cost, timed one request per call in the fresh process, goes into the index.
  cost = smoke['serving']
  assert (cost['timed_requests'], cost['candidates_per_request']) == (2, 2.5)
  assert 0 < cost['latency_ms_p50'] <= cost['latency_ms_p99'] and cost['size_mb'] > 0
  assert record.extra[keys.SERVING_COST] == cost
  assert keys.push_record(pushed)[keys.SERVING_COST] == cost


def test_on_kubeflow_the_digest_comes_from_inputs_check_and_the_statistics_are_recorded(
    tmp_path, evaluated):
  from recfusion.artifact_types import InputsCheck
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=True)
  check = InputsCheck()
  check.set_string_custom_property(keys.INPUTS_DIGEST, 'computed-in-the-run')
  statistics = standard_artifacts.ExampleStatistics()
  statistics.uri = 'gs://root/StatisticsGen/statistics/7'
  directory = str(tmp_path / 'registry')
  executor.Executor().Do({**inputs, 'inputs_check': [check], 'statistics': [statistics]},
                         outputs, {'registry_dir': directory})
  record = registry.latest(directory)
  assert record.extra[keys.INPUTS_DIGEST] == 'computed-in-the-run'
  # What later runs' reports compare their data with.
  assert record.extra[keys.STATISTICS] == 'gs://root/StatisticsGen/statistics/7'


def test_a_blessed_model_that_serves_nan_is_not_pushed(tmp_path, evaluated):
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=True, broken=True)
  directory = str(tmp_path / 'registry')
  with pytest.raises(serving_check.ServingCheckError) as raised:
    executor.Executor().Do(inputs, outputs, {'registry_dir': directory})
  message = str(raised.value)
  assert 'score: 5 of 5 scores are not finite' in message
  assert 'probability: 5 of 5 scores are not finite' in message
  assert 'not pushed' in message
  assert registry.latest(directory) is None
  assert not pushed.has_custom_property(keys.PUSHED)


def test_a_model_evaluated_against_a_replaced_baseline_is_not_pushed(tmp_path, monkeypatch,
                                                                     evaluated):
  # The race with another push is the registry's concern; the smoke test is tested above.
  monkeypatch.setattr(executor.serving_check, 'check',
                      lambda *args: {'examples': 5, 'serving': {'size_mb': 1.0}})
  directory = str(tmp_path / 'registry')
  for name in ('v1', 'v2'):
    (tmp_path / name).mkdir()
    registry.push(directory, str(tmp_path / name))
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=True)
  baseline = standard_artifacts.Model()
  baseline.set_int_custom_property(keys.BASELINE_FOUND, 1)
  baseline.set_int_custom_property(keys.BASELINE_VERSION, 1)  # the Evaluator compared with 1
  inputs['baseline_model'] = [baseline]
  with pytest.raises(registry.RegistryError, match='now version 2, not 1'):
    executor.Executor().Do(inputs, outputs, {'registry_dir': directory})
  assert registry.version_folders(directory) == [1, 2]
  baseline.set_int_custom_property(keys.BASELINE_VERSION, 2)
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory})
  assert pushed.get_string_custom_property(keys.PUSHED_VERSION) == '3'


def test_a_pinned_registry_refuses_the_push_and_the_run_says_why(tmp_path, monkeypatch,
                                                                 evaluated):
  checked = []
  monkeypatch.setattr(executor.serving_check, 'check',
                      lambda *args: checked.append(args) or {'serving': {}})
  directory = str(tmp_path / 'registry')
  (tmp_path / 'v1').mkdir()
  registry.push(directory, str(tmp_path / 'v1'))
  registry.pin(directory, 1, reason='incident 42')
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=True)
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory})
  assert pushed.get_int_custom_property(keys.PUSHED) == 0
  record = keys.push_record(pushed)
  assert record['pushed'] is False
  assert 'pinned to version 1' in record['refused'] and 'incident 42' in record['refused']
  assert registry.version_folders(directory) == [1]
  assert checked == []  # the pin is read before the smoke test's TensorFlow process
  registry.unpin(directory)
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory})
  assert pushed.get_string_custom_property(keys.PUSHED_VERSION) == '2'


def _with_compact_export(model, factor: float) -> None:
  """A compact export beside the full model, as the Fusion writes it (one member pruned)."""
  from recfusion.models.fusion import compact
  module = _ScoreFeatureX(factor=factor)
  tf.saved_model.save(module, os.path.join(model.uri, compact.COMPACT_DIR),
                      signatures={keys.SERVING_SIGNATURE: module.serve})
  model.set_string_custom_property(keys.COMPACT, json.dumps(
      compact.describe(0.0, {'dcn': 1.0, 'text': 0.0}, {'text': 0.0})))


def _served_scores(path: str) -> list:
  serve = tf.saved_model.load(path).signatures[keys.SERVING_SIGNATURE]
  return serve(examples=tf.constant([_example('r', 0.0, 1.5)]))[keys.SCORE_KEY].numpy().tolist()


def test_a_compact_export_that_ranks_as_evaluated_is_what_gets_pushed(tmp_path, evaluated):
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=True)
  _with_compact_export(inputs['model'][0], factor=2.0)  # other scores, the same ranking
  directory = str(tmp_path / 'registry')
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory,
                                            'max_compact_ndcg_loss': 0.0})
  record = registry.latest(directory)
  assert _served_scores(record.path) == [3.0]  # the compact model, not the full one
  compact_record = record.extra[keys.COMPACT]
  assert compact_record['pruned'] == ['text'] and compact_record['ndcg_loss'] == 0.0
  assert compact_record['full']['size_mb'] > 0 and compact_record['compact']['size_mb'] > 0
  assert record.extra[keys.SERVING_COST] == compact_record['compact']
  assert keys.push_record(pushed)[keys.COMPACT] == compact_record


def test_a_compact_export_that_ranks_worse_than_allowed_is_refused_and_the_full_model_pushed(
    tmp_path, evaluated):
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=True)
  _with_compact_export(inputs['model'][0], factor=-1.0)  # every request ranked upside down
  directory = str(tmp_path / 'registry')
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory,
                                            'max_compact_ndcg_loss': 0.002})
  record = registry.latest(directory)
  assert _served_scores(record.path) == [1.5]  # the full model
  refused = record.extra[keys.COMPACT]
  assert refused['pruned'] == ['text'] and refused['max_ndcg_loss'] == 0.002
  assert 'score: served NDCG@10' in refused['refused'] and 'may be up to 0.002 lower' in \
      refused['refused']
  assert 'compact' not in refused
  # A looser limit takes the same export.
  inputs, outputs, pushed = _artifacts(tmp_path / 'again', blessed=True)
  _with_compact_export(inputs['model'][0], factor=-1.0)
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory,
                                            'max_compact_ndcg_loss': 0.9})
  record = registry.latest(directory)
  assert _served_scores(record.path) == [-1.5]
  loss = record.extra[keys.COMPACT]['ndcg_loss']
  ids, gains, x = (np.array(column) for column in zip(*REQUESTS))
  assert loss == pytest.approx(_served_ndcg10() - ranking_metrics.ndcg_at_k(ids, gains, -x, 10),
                               abs=1e-6)
  assert loss > 0.002
