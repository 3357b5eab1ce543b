"""dcn ranker: DCN-v2 over tabular and cross features.

Embeddings of item, category, brand and user segment with the numeric features (price, its
gap to the user's past prices, history length, query length, query-title overlap, history
category and brand shares, item-in-history, request type) go through two full-rank cross layers, x_{l+1} = x_0 * (W x_l + b) + x_l, which
learn bounded-degree feature crosses, and then a small deep network.
"""
import tf_keras as keras

from recfusion import features
from recfusion.models import rankers, training

# The flat features of the catalogue: ids go through embeddings, numbers as they are.
CATEGORICAL = features.names('tabular', kind='id')
NUMERIC = features.names('tabular', kind='numeric')


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
  x = {name: inputs[name] for name in CATEGORICAL + NUMERIC}
  parts = [keras.layers.Flatten()(training.feature_embedding(name, vocab, hp.embedding_dim // 2,
                                                             hp)(x[name]))
           for name in CATEGORICAL]
  parts.append(keras.layers.concatenate([training.scalar(x, name) for name in NUMERIC]))
  x0 = keras.layers.concatenate(parts)
  crossed = x0
  for _ in range(2):
    crossed = Cross()([x0, crossed])
  deep = training.hidden_layers(crossed, [hp.hidden_units, hp.hidden_units // 2], hp)
  score = keras.layers.Dense(1, name='score')(deep)
  return keras.Model(x, score, name='dcn_ranker')


RANKER = rankers.Ranker('dcn', build_model, __name__)
