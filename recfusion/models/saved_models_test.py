"""Unit tests of how recfusion's SavedModels apply the Transform graph: what they keep of TFT's
layer, and the parse-and-transform function their serving signatures share."""
import os

import pytest
import tensorflow as tf

from recfusion.models import saved_models


def _layer_tracking(imported):
  class Layer:
    _saved_model_loader_tracked_dict = {'_imported': imported,
                                        '_wrapped_function': 'a copy of the graph'}
  return Layer()


def test_transform_state_is_the_loaded_graphs_state_without_its_signatures():
  # What TFT's loaded v1 graph holds (an AutoTrackable with these four children).
  imported = tf.train.Checkpoint(
      initializer=tf.Module(name='tables'), variables=[tf.Variable(1.0)],
      asset_paths=[tf.saved_model.Asset('vocabulary.txt')],
      signatures={'transform_signature': tf.Module(name='a_copy_of_the_graph')})

  state = saved_models.transform_state(_layer_tracking(imported))

  assert sorted(state) == ['asset_paths', 'initializer', 'variables']
  assert state['initializer'] is imported.initializer
  assert state['variables'][0] is imported.variables[0]
  assert state['asset_paths'][0] is imported.asset_paths[0]


def test_a_tft_layer_without_the_tracked_graph_is_named():
  with pytest.raises(RuntimeError, match=r'_saved_model_loader_tracked_dict\["_imported"\]'):
    saved_models.transform_state(object())
  with pytest.raises(RuntimeError, match='saved_models.transform_state'):
    saved_models.transform_state(_layer_tracking(None))


class _TransformOutput:
  """What saved_models reads of a tft.TFTransformOutput, counting the layers it builds."""

  def __init__(self, path):
    self.transform_savedmodel_dir = path
    self.layers_built = 0

  def transform_features_layer(self):
    self.layers_built += 1

    class Layer:
      _saved_model_loader_tracked_dict = {'_imported': tf.train.Checkpoint(
          variables=[tf.Variable(2.0)])}

      def __call__(self, features):
        return {'doubled': features['x'] * self._saved_model_loader_tracked_dict[
            '_imported'].variables[0]}
    return Layer()

  def raw_feature_spec(self):
    return {'x': tf.io.FixedLenFeature([], tf.float32),
            'gain': tf.io.FixedLenFeature([], tf.float32)}


def _serialized(*values):
  return tf.constant([tf.train.Example(features=tf.train.Features(feature={
      'x': tf.train.Feature(float_list=tf.train.FloatList(value=[v]))})).SerializeToString()
      for v in values])


def test_raw_transform_parses_without_labels_and_applies_the_graph():
  raw = saved_models.RawTransform(_TransformOutput('/graph'), label_only_features=('gain',))
  assert sorted(raw.raw_spec) == ['x']
  assert raw.apply(_serialized(1.5, -1.0))['doubled'].numpy().tolist() == [3.0, -2.0]
  assert sorted(raw.state) == ['variables']


def test_signatures_calling_one_raw_transform_trace_it_once():
  raw = saved_models.RawTransform(_TransformOutput('/graph'), label_only_features=('gain',))
  first = tf.function(lambda s: raw.apply(s)['doubled'] + 1.0)
  second = tf.function(lambda s: raw.apply(s)['doubled'] * 3.0)
  assert first(_serialized(1.0)).numpy().tolist() == [3.0]
  assert second(_serialized(1.0)).numpy().tolist() == [6.0]
  assert raw.apply.experimental_get_tracing_count() == 1


def _graph_dirs(tmp_path, *names):
  for name in names:
    (tmp_path / name).mkdir()
    (tmp_path / name / 'saved_model.pb').write_bytes(b'')
  return [str(tmp_path / name) for name in names]


def test_one_raw_transform_per_graph_and_the_last_two_graphs_kept(tmp_path):
  outputs = {path: _TransformOutput(path) for path in _graph_dirs(tmp_path, 'a', 'b', 'c')}
  a_dir, b_dir, c_dir = outputs
  a = saved_models.raw_transform(outputs[a_dir])
  assert saved_models.raw_transform(_TransformOutput(a_dir)) is a
  assert 'gain' not in a.raw_spec  # a label, absent when serving
  saved_models.raw_transform(outputs[b_dir])
  saved_models.raw_transform(outputs[c_dir])
  assert saved_models.raw_transform(outputs[a_dir]) is not a
  assert outputs[a_dir].layers_built == 2 and outputs[b_dir].layers_built == 1


def test_a_graph_written_again_under_the_same_folder_is_read_again(tmp_path):
  [graph_dir] = _graph_dirs(tmp_path, 'graph')
  output = _TransformOutput(graph_dir)
  first = saved_models.raw_transform(output)
  os.utime(os.path.join(graph_dir, 'saved_model.pb'), ns=(1, 1))
  assert saved_models.raw_transform(output) is not first
  assert output.layers_built == 2


def test_a_signature_saved_and_one_traced_after_share_one_trace(tmp_path):
  # As the Trainers and Fusion use it: each signature traced before `tf.saved_model.save`
  # (a trace made inside the save context is not reused outside it).
  raw = saved_models.RawTransform(_TransformOutput('/graph'), label_only_features=('gain',))
  module = tf.Module()
  module.transform_state = raw.state
  serve = tf.function(lambda s: {'score': raw.apply(s)['doubled']},
                      input_signature=[saved_models.SERIALIZED_EXAMPLES])
  tf.saved_model.save(module, str(tmp_path / 'model'),
                      signatures={'serving_default': serve.get_concrete_function()})
  later = tf.function(lambda s: raw.apply(s)['doubled'] * 2.0)
  assert later(_serialized(1.0)).numpy().tolist() == [4.0]
  assert raw.apply.experimental_get_tracing_count() == 1
  loaded = tf.saved_model.load(str(tmp_path / 'model')).signatures['serving_default']
  assert loaded(examples=_serialized(3.0))['score'].numpy().tolist() == [6.0]
