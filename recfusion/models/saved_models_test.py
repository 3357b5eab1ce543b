"""Unit tests of what a SavedModel applying the Transform graph keeps of TFT's layer."""
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
