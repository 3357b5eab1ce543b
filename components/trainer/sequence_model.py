"""sequence ranker: a behavior-sequence Transformer (BST-style).

The target item (item and category embeddings) is put in front of the user's history items
(most recent first, with learned position embeddings); one self-attention block with a padding
mask runs over the sequence, and the target's output, with the request type, is scored by a
small network. What the user engaged with before explains what they engage with next.
"""
import tensorflow as tf
import tf_keras as keras

from recfusion.components.trainer import common
from recfusion.components.transform import preprocessing


def build_model(inputs, vocab: common.Vocabularies, hp: common.HParams) -> keras.Model:
  used = ['item_idx', 'category_idx', 'history_item_idx', 'history_category_idx', 'is_search']
  x = {name: inputs[name] for name in used}
  dim = hp.embedding_dim
  items = keras.layers.Embedding(vocab.items, dim, name='item_embedding')
  categories = keras.layers.Embedding(vocab.categories, dim, name='category_embedding')
  target_ids = tf.reshape(x['item_idx'], [-1, 1])
  target_categories = tf.reshape(x['category_idx'], [-1, 1])
  sequence_ids = keras.layers.concatenate([target_ids, x['history_item_idx']], axis=1)
  sequence_categories = keras.layers.concatenate(
      [target_categories, x['history_category_idx']], axis=1)
  length = preprocessing.HISTORY_ITEMS + 1
  positions = keras.layers.Embedding(length, dim, name='position_embedding')(
      tf.range(length)[None, :])
  sequence = items(sequence_ids) + categories(sequence_categories) + positions
  # Padding (id 0) is never attended to; the target (slot 0) always has a real id.
  mask = tf.not_equal(sequence_ids, 0)
  attention_mask = tf.logical_and(mask[:, :, None], mask[:, None, :])
  attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=dim // 2)(
      sequence, sequence, attention_mask=attention_mask)
  sequence = keras.layers.LayerNormalization()(sequence + attended)
  feed_forward = keras.layers.Dense(dim, activation='relu')(sequence)
  sequence = keras.layers.LayerNormalization()(sequence + feed_forward)
  target = sequence[:, 0, :]
  hidden = keras.layers.Dense(hp.hidden_units, activation='relu')(
      keras.layers.concatenate([target, common.scalar(x, 'is_search')]))
  score = keras.layers.Dense(1, name='score')(hidden)
  return keras.Model(x, score, name='sequence_ranker')


def run_fn(fn_args):
  common.train_and_export(fn_args, build_model)
