"""text ranker: a two-tower model of semantic relevance.

Request tower: the pooled query token embeddings for a search; for a recommendation (no
query) the pooled embeddings of the user's history items. Item tower: pooled title tokens,
category and brand. Score: the dot product of the towers, learned weights on the query's
lexical matches to the item (overlap, BM25 per field, character trigrams, numbers; see
models/lexical.py), and a learned prior per item.
"""
import tf_keras as keras

from recfusion import features
from recfusion.models import rankers, training


def build_model(inputs, vocab: training.Vocabularies, hp: training.HParams) -> keras.Model:
  lexical = ['query_title_overlap', *features.names('lexical')]
  used = ['query_tokens', 'title_tokens', 'history_item_idx', 'category_idx', 'brand_idx',
          'is_search', 'item_idx', *lexical]
  x = {name: inputs[name] for name in used}
  tokens = training.embedding(features.TOKENS, vocab, hp.embedding_dim, 'token_embedding', hp)
  items = training.embedding(features.ITEMS, vocab, hp.embedding_dim, 'history_embedding', hp)
  query_vector = training.pooled(tokens(x['query_tokens']), x['query_tokens'])
  history_vector = training.pooled(items(x['history_item_idx']), x['history_item_idx'])
  is_search = training.scalar(x, 'is_search')
  request = is_search * query_vector + (1.0 - is_search) * history_vector
  request = keras.layers.Dense(hp.embedding_dim, name='request_tower')(
      keras.layers.concatenate([request, is_search]))

  title_vector = training.pooled(tokens(x['title_tokens']), x['title_tokens'])
  category = training.embedding(features.CATEGORIES, vocab, hp.embedding_dim,
                                'category_embedding', hp)(x['category_idx'])
  brand = training.embedding(features.BRANDS, vocab, hp.embedding_dim, 'brand_embedding',
                             hp)(x['brand_idx'])
  item = keras.layers.Dense(hp.embedding_dim, name='item_tower')(
      keras.layers.concatenate([title_vector, keras.layers.Flatten()(category),
                                keras.layers.Flatten()(brand)]))

  relevance = keras.layers.Dot(axes=1)([request, item])
  # A learned prior per item (how engaging it is whatever the request), as two-tower
  # retrieval models carry next to the dot product.
  item_prior = keras.layers.Flatten()(
      training.embedding(features.ITEMS, vocab, 1, 'item_prior_embedding', hp)(x['item_idx']))
  # Exact and fuzzy word matches (BM25, trigrams, numbers): what embeddings of rare words and
  # of items seen once cannot learn.
  overlap = keras.layers.Dense(1, name='lexical_weights')(
      keras.layers.concatenate([training.scalar(x, name) for name in lexical]))
  score = keras.layers.Add(name='score')([relevance, overlap, item_prior])
  return keras.Model(x, score, name='text_ranker')


# Queries or titles to match, or user histories to stand in for the query.
RANKER = rankers.Ranker('text', build_model, __name__,
                        needs=('query_tokens', 'title_tokens', 'history_item_idx'))
