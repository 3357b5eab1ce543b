"""preprocessing_fn of the stock TFX Transform (passed by import path, never as a module_file).

Feature engineering shared by the three rankers and fused into every served model:
vocabularies (items, categories, brands, segments, request types, text tokens), tokenized query
and title, normalized price and history length, the user's history as id lists, and
query-title / history-item match features. `position` is deliberately not transformed: it is
known in logs, not at serving time, and must not reach a serving score.
"""
import tensorflow as tf
import tensorflow_transform as tft

from recfusion import features, keys
from recfusion.models import lexical
from recfusion.features import HISTORY_ITEMS, QUERY_TOKENS, TITLE_TOKENS

# Raw features a serving request does not have (see schema environments).
LABEL_ONLY_FEATURES = (keys.LABEL_KEY, keys.ENGAGED_KEY, 'position')


def _scalar(x):
  """[batch, 1] dense -> [batch]."""
  return tf.reshape(x, [-1])


def _tokens(text, length):
  """Lower-cased words (split on anything not a letter or digit), padded with '' / cut at
  `length`."""
  return lexical.words(_scalar(text), length)


def _dense_list(sparse, length, padding=''):
  ragged = tf.RaggedTensor.from_sparse(sparse)
  return ragged.to_tensor(default_value=padding, shape=[None, length])


def _non_padding(tokens):
  return tf.boolean_mask(tokens, tf.not_equal(tokens, ''))


def _lookup(tokens, vocab):
  """Ids 1..V for vocabulary entries, V+1 for unknown values, 0 for padding ('')."""
  ids = tft.apply_vocabulary(tokens, deferred_vocab_filename_tensor=vocab, num_oov_buckets=1)
  return tf.where(tf.equal(tokens, ''), tf.zeros_like(ids), ids + 1)


def _share_in(values, candidates):
  """Per row: share of the non-padding `values` that occur in the row's `candidates`."""
  present = tf.not_equal(values, '')
  hit = tf.reduce_any(tf.equal(lexical.fingerprints(values)[:, :, None],
                               lexical.fingerprints(candidates)[:, None, :]), axis=2)
  hit = tf.logical_and(hit, present)
  count = tf.reduce_sum(tf.cast(present, tf.float32), axis=1)
  return tf.math.divide_no_nan(tf.reduce_sum(tf.cast(hit, tf.float32), axis=1), count)


def preprocessing_fn(inputs):
  query_tokens = _tokens(inputs['query'], QUERY_TOKENS)
  title_tokens = _tokens(inputs['title'], TITLE_TOKENS)
  history_items = _dense_list(inputs['history_item_ids'], HISTORY_ITEMS)
  history_categories = _dense_list(inputs['history_categories'], HISTORY_ITEMS)
  history_brands = _dense_list(inputs['history_brands'], HISTORY_ITEMS)
  history_prices = _dense_list(inputs['history_prices'], HISTORY_ITEMS, padding=0.0)
  item_id = _scalar(inputs['item_id'])
  category = _scalar(inputs['category'])
  brand = _scalar(inputs['brand'])
  log_price = tf.math.log1p(tf.maximum(_scalar(inputs['price']), 0.0))

  token_vocab = tft.vocabulary(
      tf.concat([_non_padding(query_tokens), _non_padding(title_tokens)], axis=0),
      vocab_filename=features.TOKENS.name)
  item_vocab = tft.vocabulary(
      tf.concat([item_id, _non_padding(history_items)], axis=0), vocab_filename=features.ITEMS.name)
  category_vocab = tft.vocabulary(
      tf.concat([category, _non_padding(history_categories)], axis=0),
      vocab_filename=features.CATEGORIES.name)
  brand_vocab = tft.vocabulary(tf.concat([brand, _non_padding(history_brands)], axis=0),
                               vocab_filename=features.BRANDS.name)

  log_history_length = tf.math.log1p(tf.cast(_scalar(inputs['history_length']), tf.float32))
  outputs = {
      keys.REQUEST_ID_KEY: _scalar(inputs[keys.REQUEST_ID_KEY]),
      'query_tokens': _lookup(query_tokens, token_vocab),
      'title_tokens': _lookup(title_tokens, token_vocab),
      'item_idx': _lookup(item_id, item_vocab),
      'category_idx': _lookup(category, category_vocab),
      'history_item_idx': _lookup(history_items, item_vocab),
      'history_category_idx': _lookup(history_categories, category_vocab),
      'brand_idx': _lookup(brand, brand_vocab),
      'history_brand_idx': _lookup(history_brands, brand_vocab),
      'segment_idx': tft.compute_and_apply_vocabulary(
          _scalar(inputs['user_segment']), num_oov_buckets=1, vocab_filename=features.SEGMENTS.name),
      'is_search': tf.cast(tf.equal(_scalar(inputs['request_type']), 'search'), tf.float32),
      'price_z': tft.scale_to_z_score(log_price),
      # How far the candidate's price is from what this user paid before (0 without history).
      'price_gap': _price_gap(log_price, history_prices, tf.not_equal(history_items, '')),
      'history_length_01': tft.scale_to_0_1(log_history_length),
      'query_length': tf.reduce_sum(tf.cast(tf.not_equal(query_tokens, ''), tf.float32), 1),
      # Share of query words found in the title: the text-relevance signal in one number.
      'query_title_overlap': _share_in(query_tokens, title_tokens),
      # Share of the history in the candidate's category, and whether it was engaged before.
      'history_category_share': _share_of_value(history_categories, category),
      'history_brand_share': _share_of_value(history_brands, brand),
      'item_in_history': tf.cast(
          tf.reduce_any(tf.equal(history_items, item_id[:, None]), axis=1), tf.float32),
  }
  outputs.update(_lexical(inputs))
  gain = _scalar(inputs[keys.LABEL_KEY])
  outputs[keys.LABEL_KEY] = gain
  outputs[keys.ENGAGED_KEY] = tf.cast(gain > 0, tf.float32)
  return outputs


def _lexical(inputs):
  """The query's lexical match to the item (lexical.py). BM25 is unbounded, so the models get
  log(1 + BM25): the same order, on a scale a network's inputs can share."""
  matches = lexical.features(_scalar(inputs['query']), _scalar(inputs['title']),
                             _scalar(inputs['category']), _scalar(inputs['brand']))
  return {name: tf.math.log1p(value) if name.startswith('bm25_') else value
          for name, value in matches.items()}


def _share_of_value(values, value):
  """Per row: share of the non-padding `values` equal to the row's `value`."""
  present = tf.not_equal(values, '')
  hit = tf.logical_and(tf.equal(values, value[:, None]), present)
  count = tf.reduce_sum(tf.cast(present, tf.float32), axis=1)
  return tf.math.divide_no_nan(tf.reduce_sum(tf.cast(hit, tf.float32), axis=1), count)


def _price_gap(log_price, history_prices, present):
  """|log price - mean log price of the history|, 0 for an empty history."""
  present = tf.cast(present, tf.float32)
  history_log_prices = tf.math.log1p(tf.maximum(history_prices, 0.0)) * present
  count = tf.reduce_sum(present, axis=1)
  mean = tf.math.divide_no_nan(tf.reduce_sum(history_log_prices, axis=1), count)
  return tf.where(count > 0, tf.abs(log_price - mean), tf.zeros_like(log_price))
