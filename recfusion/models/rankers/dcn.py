"""dcn ranker: DCN-v2 over tabular and cross features.

Embeddings of item, category, brand and user segment with the numeric features (price, its
gap to the user's past prices, history length, query length, query-title overlap, history
category and brand shares, item-in-history, request type) go through two full-rank cross layers, x_{l+1} = x_0 * (W x_l + b) + x_l, which
learn bounded-degree feature crosses, and then a small deep network.
"""
import tensorflow as tf
import tf_keras as keras

from recfusion.models import training

NUMERIC = ['price_z', 'price_gap', 'history_length_01', 'query_length', 'query_title_overlap',
           'history_category_share', 'history_brand_share', 'item_in_history', 'is_search']


class Cross(keras.layers.Layer):
  """One DCN-v2 cross layer."""

  def build(self, input_shape):
    width = int(input_shape[0][-1])
    self.dense = keras.layers.Dense(width)
    super().build(input_shape)

  def call(self, inputs):
    x0, x = inputs
    return x0 * self.dense(x) + x


def build_model(inputs, vocab: training.Vocabularies, hp: training.HParams) -> keras.Model:
  categorical = {'item_idx': vocab.items, 'category_idx': vocab.categories,
                 'brand_idx': vocab.brands, 'segment_idx': vocab.segments}
  x = {name: inputs[name] for name in list(categorical) + NUMERIC}
  parts = [keras.layers.Flatten()(training.embedding(size, hp.embedding_dim // 2,
                                                  f'{name}_embedding', hp)(x[name]))
           for name, size in categorical.items()]
  parts.append(keras.layers.concatenate([training.scalar(x, name) for name in NUMERIC]))
  x0 = keras.layers.concatenate(parts)
  crossed = x0
  for _ in range(2):
    crossed = Cross()([x0, crossed])
  deep = training.hidden_layers(crossed, [hp.hidden_units, hp.hidden_units // 2], hp)
  score = keras.layers.Dense(1, name='score')(deep)
  return keras.Model(x, score, name='dcn_ranker')


def run_fn(fn_args):
  training.train_and_export(fn_args, 'dcn', build_model)
