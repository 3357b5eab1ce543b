"""Unit tests of what the fused model keeps of each ranker: the state its scoring function
captures, not the ranker's whole Keras object graph."""
import os

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tensorflow.python.saved_model import loader_impl  # no public parser of saved_model.pb

from recfusion import keys
from recfusion.models.fusion import fused_model


def _saved_ranker(path: str) -> str:
  keras.backend.clear_session()
  ids = keras.Input(shape=(), dtype='int64', name='item_idx')
  embedded = keras.layers.Embedding(4, 2, name='item_embedding__item_id')(ids)
  score = keras.layers.Dense(1, name='score')(keras.layers.Dense(3, name='hidden')(embedded))
  model = keras.Model(ids, score)
  model.get_layer('score').bias.assign([0.5])

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name='item_idx')])
  def transformed_features(item_idx):
    return {keys.SCORE_KEY: tf.reshape(model(item_idx), [-1])}

  model.save(path, signatures={keys.TRANSFORMED_SIGNATURE: transformed_features})
  return path


class _Holder(tf.Module):
  """Tracks a member the way FusedRanker does: its captured state, the function untracked."""

  def __init__(self, loaded):
    super().__init__()
    self._score = self._no_dependency(loaded.signatures[keys.TRANSFORMED_SIGNATURE])
    self.member_state = {'dcn': fused_model.captured_state(loaded, self._score)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
  def serve(self, item_idx):
    return self._score(item_idx=item_idx)[keys.SCORE_KEY]


def test_captured_state_is_the_variables_the_scoring_function_reads(tmp_path):
  loaded = fused_model.load_member(_saved_ranker(str(tmp_path / 'ranker')))
  state = fused_model.captured_state(loaded, loaded.signatures[keys.TRANSFORMED_SIGNATURE])
  assert sorted(v.name for v in state) == [
      'hidden/bias:0', 'hidden/kernel:0', 'item_embedding__item_id/embeddings:0',
      'score/bias:0', 'score/kernel:0']


def test_a_model_holding_only_that_state_scores_the_same_and_omits_the_layer_functions(tmp_path):
  ranker_dir = _saved_ranker(str(tmp_path / 'ranker'))
  loaded = fused_model.load_member(ranker_dir)
  ids = tf.constant([0, 1, 2, 3], tf.int64)
  expected = loaded.signatures[keys.TRANSFORMED_SIGNATURE](item_idx=ids)[keys.SCORE_KEY].numpy()
  holder_dir = str(tmp_path / 'holder')
  tf.saved_model.save(_Holder(loaded), holder_dir)

  reloaded = tf.saved_model.load(holder_dir)
  np.testing.assert_array_equal(reloaded.serve(ids).numpy(), expected)
  def layer_functions(path):
    library = loader_impl.parse_saved_model(path).meta_graphs[0].graph_def.library
    return [f.signature.name for f in library.function
            if 'call_and_return_conditional_losses' in f.signature.name]

  # The Keras layers' own call functions, in the ranker's SavedModel, are not written again.
  assert layer_functions(ranker_dir)
  assert not layer_functions(holder_dir)
  assert os.path.getsize(os.path.join(holder_dir, 'saved_model.pb')) < os.path.getsize(
      os.path.join(ranker_dir, 'saved_model.pb'))


def test_member_variables_reads_the_new_layout_and_models_pushed_before_it(tmp_path):
  loaded = fused_model.load_member(_saved_ranker(str(tmp_path / 'ranker')))
  expected = {v.name: v.numpy() for v in loaded.signatures[
      keys.TRANSFORMED_SIGNATURE].variables}
  holder_dir = str(tmp_path / 'holder')
  tf.saved_model.save(_Holder(loaded), holder_dir)

  values = fused_model.member_variables(tf.saved_model.load(holder_dir), 'dcn')
  assert sorted(values) == sorted(expected)
  assert values['score/bias:0'].tolist() == [0.5]
  assert fused_model.member_variables(tf.saved_model.load(holder_dir), 'text') is None

  old_layout = tf.Module()
  old_layout.rankers = {'dcn': loaded}
  old_dir = str(tmp_path / 'old')
  tf.saved_model.save(old_layout, old_dir)
  old_values = fused_model.member_variables(tf.saved_model.load(old_dir), 'dcn')
  assert old_values['score/bias:0'].tolist() == [0.5]
  assert sorted(old_values) == sorted(expected)
