"""Lexical relevance of a search query to an item's text, computed inside the Transform graph.

Real product search is won or lost on words: misspellings, units and model numbers ("1-gal",
"12-gauge"), long titles, a large catalog where most items appear once, so that embeddings of
item ids learn little. These features give every ranker that sees a query the signals a search
engine ranks by:
  bm25_<field>            Okapi BM25 of the query against the title, category and brand fields
                          (Lucene's form, k1 = 1.5, b = 0.75). Document frequencies and average
                          field length are Transform analyzers over the `train` split's rows, so
                          serving computes exactly the same values from the same graph.
  query_char3_overlap     share of the query's character trigrams found in the title's:
                          survives typos, plurals and glued words
  query_prefix_overlap    share of query words whose first 4 letters start some title word
  query_bigram_overlap    share of the query's adjacent word pairs found in the title (phrases)
  query_number_match      share of the query's numbers found among the title's numbers (0 when
                          the query has none), and query_has_number
  query_coverage          share of query words found in title, category or brand
Text is lower-cased and split on anything that is not a letter or a digit, so "1-Gal." gives
the words "1" and "gal".
"""
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform import tf_utils

K1 = 1.5
B = 0.75
PREFIX_LETTERS = 4
TRIGRAMS = 3
# Words and character trigrams kept per text; longer texts are cut.
FIELD_WORDS = 48
QUERY_WORDS = 16
QUERY_TRIGRAMS = 64
TITLE_TRIGRAMS = 256


def normalize(text: tf.Tensor) -> tf.Tensor:
  """Lower case, every run of non-letters/non-digits turned into one space."""
  return tf.strings.strip(tf.strings.regex_replace(tf.strings.lower(text), r'[^\pL\pN]+', ' '))


def words(text: tf.Tensor, length: int) -> tf.Tensor:
  """[batch] text -> [batch, length] words, padded with '' and cut at `length`."""
  return tf.strings.split(normalize(text)).to_tensor(default_value='', shape=[None, length])


# Comparing every query token with every title token is a [batch, n, m] comparison: on strings
# it cost a served request of 100 candidates 110 ms (char trigrams, 64 x 256 per row); on their
# 64-bit fingerprints it costs a few. Two different tokens share a fingerprint with probability
# about 2^-62: the features are the string comparison's.
_FINGERPRINT_BUCKETS = 2 ** 62


def fingerprints(tokens: tf.Tensor) -> tf.Tensor:
  """Each string's 64-bit FarmHash fingerprint (int64), to compare tokens as numbers."""
  return tf.strings.to_hash_bucket_fast(tokens, _FINGERPRINT_BUCKETS)


def first_occurrences(tokens: tf.Tensor) -> tf.Tensor:
  """[batch, n] bool: the token is not padding and does not occur earlier in its row."""
  n = tokens.shape[1]
  earlier = tf.linalg.band_part(tf.ones([n, n], tf.bool), -1, 0) & ~tf.eye(n, dtype=tf.bool)
  ids = fingerprints(tokens)
  same = tf.equal(ids[:, :, None], ids[:, None, :])
  seen_before = tf.reduce_any(same & earlier[None, :, :], axis=2)
  return tf.not_equal(tokens, '') & ~seen_before


def share_found(values: tf.Tensor, candidates: tf.Tensor, counted: tf.Tensor) -> tf.Tensor:
  """Per row: share of the `counted` values that occur among the row's non-empty candidates."""
  hit = tf.reduce_any(tf.equal(fingerprints(values)[:, :, None],
                               fingerprints(candidates)[:, None, :]) &
                      tf.not_equal(candidates, '')[:, None, :], axis=2)
  counted_f = tf.cast(counted, tf.float32)
  return tf.math.divide_no_nan(tf.reduce_sum(tf.cast(hit, tf.float32) * counted_f, axis=1),
                               tf.reduce_sum(counted_f, axis=1))


def _document_frequency(query: tf.Tensor, field: tf.Tensor, vocab_filename: str) -> tf.Tensor:
  """For each query word, the number of `train` rows whose field contains it."""
  counted = first_occurrences(field)
  frequencies = tft.vocabulary(tf.boolean_mask(field, counted), store_frequency=True,
                               vocab_filename=vocab_filename)

  def frequency_table(path):
    # Lines are "<frequency> <word>": the word is the key, the frequency the value.
    return tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(path, key_dtype=tf.string, key_index=1,
                                      value_dtype=tf.int64, value_index=0, delimiter=' '),
        default_value=0)

  # TFT's own table helper lifts the table out of the serving function, so it is built once
  # per loaded graph, not once per request.
  looked_up, _ = tf_utils.construct_and_lookup_table(frequency_table, frequencies,
                                                     tf.reshape(query, [-1]))
  return tf.reshape(tf.cast(looked_up, tf.float32), tf.shape(query))


def bm25(query: tf.Tensor, field: tf.Tensor, vocab_filename: str) -> tf.Tensor:
  """[batch] BM25 of each row's query words against its field words (a repeated query word
  counts each time, as in Lucene and bm25s)."""
  field_length = tf.reduce_sum(tf.cast(tf.not_equal(field, ''), tf.float32), axis=1)
  documents = tf.cast(tft.size(field_length), tf.float32)
  mean_length = tft.mean(field_length)
  df = _document_frequency(query, field, vocab_filename)
  idf = tf.math.log(1.0 + (documents - df + 0.5) / (df + 0.5))
  term_frequency = tf.reduce_sum(tf.cast(
      tf.equal(fingerprints(query)[:, :, None], fingerprints(field)[:, None, :])
      & tf.not_equal(field, '')[:, None, :], tf.float32), axis=2)
  norm = K1 * (1.0 - B + B * tf.math.divide_no_nan(field_length, mean_length))
  per_word = idf * term_frequency / (term_frequency + norm[:, None])
  return tf.reduce_sum(per_word * tf.cast(tf.not_equal(query, ''), tf.float32), axis=1)


def char_trigrams(text: tf.Tensor, length: int) -> tf.Tensor:
  """[batch, length] character trigrams of the normalized text with spaces removed."""
  glued = tf.strings.regex_replace(normalize(text), ' ', '')
  characters = tf.strings.unicode_split(glued, 'UTF-8')
  trigrams = tf.strings.ngrams(characters, TRIGRAMS, separator='')
  return trigrams.to_tensor(default_value='', shape=[None, length])


def word_bigrams(tokens: tf.Tensor) -> tf.Tensor:
  """[batch, n-1] 'a b' pairs of adjacent words ('' where either is padding)."""
  left, right = tokens[:, :-1], tokens[:, 1:]
  pair = tf.strings.join([left, right], separator=' ')
  return tf.where(tf.not_equal(left, '') & tf.not_equal(right, ''), pair, tf.zeros_like(pair))


def numbers(text: tf.Tensor, length: int) -> tf.Tensor:
  """[batch, length] the numbers written in the text ('12', '1.5'), padded with ''."""
  found = tf.strings.regex_replace(tf.strings.lower(text), r'[^0-9.]+', ' ')
  found = tf.strings.regex_replace(found, r'(^|\s)\.+|\.+(\s|$)', ' ')
  return tf.strings.split(found).to_tensor(default_value='', shape=[None, length])


def features(query: tf.Tensor, title: tf.Tensor, category: tf.Tensor,
             brand: tf.Tensor) -> dict:
  """Every lexical feature of the module docstring, as [batch] float32 tensors."""
  query_words = words(query, QUERY_WORDS)
  title_words = words(title, FIELD_WORDS)
  category_words = words(category, FIELD_WORDS)
  brand_words = words(brand, FIELD_WORDS)
  counted = first_occurrences(query_words)
  query_trigrams = char_trigrams(query, QUERY_TRIGRAMS)
  query_bigrams = word_bigrams(query_words)
  query_numbers = numbers(query, QUERY_WORDS)
  prefix = lambda t: tf.where(tf.not_equal(t, ''), tf.strings.substr(t, 0, PREFIX_LETTERS, unit='UTF8_CHAR'), t)
  all_fields = tf.concat([title_words, category_words, brand_words], axis=1)
  return {
      'bm25_title': bm25(query_words, title_words, 'df_title'),
      'bm25_category': bm25(query_words, category_words, 'df_category'),
      'bm25_brand': bm25(query_words, brand_words, 'df_brand'),
      'query_char3_overlap': share_found(query_trigrams, char_trigrams(title, TITLE_TRIGRAMS),
                                         first_occurrences(query_trigrams)),
      'query_prefix_overlap': share_found(prefix(query_words), prefix(title_words), counted),
      'query_bigram_overlap': share_found(query_bigrams, word_bigrams(title_words),
                                          first_occurrences(query_bigrams)),
      'query_number_match': share_found(query_numbers, numbers(title, FIELD_WORDS),
                                        first_occurrences(query_numbers)),
      'query_has_number': tf.cast(tf.reduce_any(tf.not_equal(query_numbers, ''), axis=1),
                                  tf.float32),
      'query_coverage': share_found(query_words, all_fields, counted),
  }
