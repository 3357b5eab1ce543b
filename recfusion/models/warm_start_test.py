"""Unit tests of warm start: rows follow their values across vocabularies; mismatches refuse."""
import numpy as np
import pytest
import tf_keras as keras

from recfusion import features
from recfusion.models import warm_start


def test_remap_rows_moves_each_known_value_to_its_new_id():
  # Shifted ids: 0 padding, 1..V vocabulary, V+1 unknown.
  old = np.arange(5, dtype=np.float32)[:, None] * 10  # pad 0, a 10, b 20, c 30, unknown 40
  new = -np.ones((5, 1), dtype=np.float32)
  result, moved = warm_start.remap_rows(old, new, ['a', 'b', 'c'], ['c', 'a', 'd'], shifted=True)
  assert result[:, 0].tolist() == [0, 30, 10, -1, 40]
  assert moved == 2


def test_remap_rows_unshifted_vocabulary():
  old = np.array([[1.0], [2.0], [3.0]])  # x, y, unknown
  new = np.zeros((4, 1))
  result, moved = warm_start.remap_rows(old, new, ['x', 'y'], ['y', 'z', 'x'], shifted=False)
  assert result[:, 0].tolist() == [2.0, 0.0, 1.0, 3.0]
  assert moved == 2


def _model(items=4, hidden=3):
  keras.backend.clear_session()
  ids = keras.Input(shape=(), dtype='int64', name='item_idx')
  embedded = keras.layers.Embedding(items, 2, name='item_embedding__item_id')(ids)
  score = keras.layers.Dense(1)(keras.layers.Dense(hidden)(embedded))
  return keras.Model(ids, score)


def test_seed_weights_copies_dense_layers_and_remaps_embeddings():
  production = _model()
  old_values = {v.name: v.numpy() for v in production.variables}
  fresh = _model(items=5)
  vocab_old = {name: [] for name in features.VOCABULARIES}
  vocab_new = dict(vocab_old)
  vocab_old['item_id'], vocab_new['item_id'] = ['a', 'b'], ['b', 'z', 'a']
  summary = warm_start.seed_weights(fresh.variables, old_values, vocab_old, vocab_new)
  values = {v.name: v.numpy() for v in fresh.variables}
  for name, old in old_values.items():
    if 'embedding' not in name:
      np.testing.assert_array_equal(values[name], old)
  embeddings = values['item_embedding__item_id/embeddings:0']
  old_embeddings = old_values['item_embedding__item_id/embeddings:0']
  np.testing.assert_array_equal(embeddings[1], old_embeddings[2])  # b
  np.testing.assert_array_equal(embeddings[3], old_embeddings[1])  # a
  np.testing.assert_array_equal(embeddings[4], old_embeddings[3])  # unknown
  assert 'item_embedding__item_id 2/3' in summary


def test_seed_weights_refuses_other_architectures_and_assigns_nothing():
  old_values = {v.name: v.numpy() for v in _model(hidden=3).variables}
  fresh = _model(hidden=4)
  before = [v.numpy().copy() for v in fresh.variables]
  vocab = {name: [] for name in features.VOCABULARIES}
  with pytest.raises(warm_start.Incompatible, match='shape'):
    warm_start.seed_weights(fresh.variables, old_values, vocab, vocab)
  for value, variable in zip(before, fresh.variables):
    np.testing.assert_array_equal(value, variable.numpy())


def test_no_production_model_means_training_from_scratch(tmp_path):
  for base_model in (str(tmp_path), None):
    outcome = warm_start.try_warm_start(_model(), 'dcn', base_model, tft_output=None)
    assert outcome == {'warm_started': False, 'reason': 'no production model'}


def test_embedding_vocabulary_is_read_from_the_layer_name():
  assert warm_start.embedding_vocabulary('history_embedding__item_id') is features.ITEMS
  assert warm_start.embedding_vocabulary('segment_idx_embedding__user_segment') is features.SEGMENTS
  assert warm_start.embedding_vocabulary('position_embedding') is None
  assert warm_start.embedding_vocabulary('x__not_a_vocabulary') is None
