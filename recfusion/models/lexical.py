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
from typing import Dict

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
# The document-frequency vocabulary's file, keyed "<field>:<word>".
DOCUMENT_FREQUENCIES = 'df_fields'
KEY_SEPARATOR = ':'


def normalize(text: tf.Tensor) -> tf.Tensor:
  """Lower case, every run of non-letters/non-digits turned into one space."""
  return tf.strings.strip(tf.strings.regex_replace(tf.strings.lower(text), r'[^\pL\pN]+', ' '))


def words(text: tf.Tensor, length: int) -> tf.Tensor:
  """[batch] text -> [batch, length] words, padded with '' and cut at `length` (a model input:
  its width is fixed)."""
  return tf.strings.split(normalize(text)).to_tensor(default_value='', shape=[None, length])


def _padded(ragged: tf.RaggedTensor, length: int) -> tf.Tensor:
  """[batch, n] with n the longest row in this batch, at most `length`: the comparisons below
  are [batch, n, m], and a padding column costs as much as a word. A served request's brands
  and categories are a word or two, not the 48 a long title may need."""
  return ragged[:, :length].to_tensor(default_value='')


def _words(text: tf.Tensor, length: int) -> tf.Tensor:
  return _padded(tf.strings.split(normalize(text)), length)


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
  n = tf.shape(tokens)[1]
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


def _document_frequencies(fields: Dict[str, tf.Tensor]) -> tf.Tensor:
  """One vocabulary of "<field>:<word>" keys with the number of `train` rows whose field
  contains the word. One analyzer for every field: each tf.Transform vocabulary is a Beam
  sub-pipeline of its own, and three of them cost Transform seconds on any data size."""
  keyed = [tf.strings.join([f'{name}{KEY_SEPARATOR}', tf.boolean_mask(words,
                                                                       first_occurrences(words))])
           for name, words in fields.items()]
  return tft.vocabulary(tf.concat(keyed, axis=0), store_frequency=True,
                        vocab_filename=DOCUMENT_FREQUENCIES)


def _document_frequency(query: tf.Tensor, field_name: str, frequencies: tf.Tensor) -> tf.Tensor:
  """For each query word, the number of `train` rows whose field `field_name` contains it."""

  def frequency_table(path):
    # Lines are "<frequency> <key>": the key is the value, the frequency the value looked up.
    return tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(path, key_dtype=tf.string, key_index=1,
                                      value_dtype=tf.int64, value_index=0, delimiter=' '),
        default_value=0)

  keys = tf.strings.join([f'{field_name}{KEY_SEPARATOR}', tf.reshape(query, [-1])])
  # TFT's own table helper lifts the table out of the serving function, so it is built once
  # per loaded graph, not once per request.
  looked_up, _ = tf_utils.construct_and_lookup_table(frequency_table, frequencies, keys)
  return tf.reshape(tf.cast(looked_up, tf.float32), tf.shape(query))


def _lengths(field: tf.Tensor) -> tf.Tensor:
  return tf.reduce_sum(tf.cast(tf.not_equal(field, ''), tf.float32), axis=1)


def bm25(query: tf.Tensor, field: tf.Tensor, df: tf.Tensor, documents: tf.Tensor,
         mean_length: tf.Tensor) -> tf.Tensor:
  """[batch] BM25 of each row's query words against its field words, given each query word's
  document frequency `df`, the number of `documents` and their `mean_length` (a repeated
  query word counts each time, as in Lucene and bm25s)."""
  idf = tf.math.log(1.0 + (documents - df + 0.5) / (df + 0.5))
  term_frequency = tf.reduce_sum(tf.cast(
      tf.equal(fingerprints(query)[:, :, None], fingerprints(field)[:, None, :])
      & tf.not_equal(field, '')[:, None, :], tf.float32), axis=2)
  norm = K1 * (1.0 - B + B * tf.math.divide_no_nan(_lengths(field), mean_length))
  per_word = idf * term_frequency / (term_frequency + norm[:, None])
  return tf.reduce_sum(per_word * tf.cast(tf.not_equal(query, ''), tf.float32), axis=1)


def _bm25_of_fields(query: tf.Tensor, fields: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """bm25_<field> for each field, with one analyzer each for the document frequencies, the
  document count and the mean field lengths of all the fields."""
  lengths = tf.stack([_lengths(words) for words in fields.values()], axis=1)
  documents = tf.cast(tft.size(lengths[:, 0]), tf.float32)
  mean_lengths = tft.mean(lengths, reduce_instance_dims=False)
  frequencies = _document_frequencies(fields)
  return {f'bm25_{name}': bm25(query, words, _document_frequency(query, name, frequencies),
                               documents, mean_lengths[i])
          for i, (name, words) in enumerate(fields.items())}


def char_trigrams(text: tf.Tensor, length: int) -> tf.Tensor:
  """[batch, at most length] character trigrams of the normalized text with spaces removed."""
  glued = tf.strings.regex_replace(normalize(text), ' ', '')
  characters = tf.strings.unicode_split(glued, 'UTF-8')
  return _padded(tf.strings.ngrams(characters, TRIGRAMS, separator=''), length)


def word_bigrams(tokens: tf.Tensor) -> tf.Tensor:
  """[batch, n-1] 'a b' pairs of adjacent words ('' where either is padding)."""
  left, right = tokens[:, :-1], tokens[:, 1:]
  pair = tf.strings.join([left, right], separator=' ')
  return tf.where(tf.not_equal(left, '') & tf.not_equal(right, ''), pair, tf.zeros_like(pair))


def numbers(text: tf.Tensor, length: int) -> tf.Tensor:
  """[batch, at most length] the numbers written in the text ('12', '1.5'), padded with ''."""
  found = tf.strings.regex_replace(tf.strings.lower(text), r'[^0-9.]+', ' ')
  found = tf.strings.regex_replace(found, r'(^|\s)\.+|\.+(\s|$)', ' ')
  return _padded(tf.strings.split(found), length)


def features(query: tf.Tensor, title: tf.Tensor, category: tf.Tensor,
             brand: tf.Tensor) -> dict:
  """Every lexical feature of the module docstring, as [batch] float32 tensors."""
  query_words = _words(query, QUERY_WORDS)
  title_words = _words(title, FIELD_WORDS)
  category_words = _words(category, FIELD_WORDS)
  brand_words = _words(brand, FIELD_WORDS)
  counted = first_occurrences(query_words)
  query_trigrams = char_trigrams(query, QUERY_TRIGRAMS)
  query_bigrams = word_bigrams(query_words)
  query_numbers = numbers(query, QUERY_WORDS)
  prefix = lambda t: tf.where(tf.not_equal(t, ''), tf.strings.substr(t, 0, PREFIX_LETTERS, unit='UTF8_CHAR'), t)
  all_fields = tf.concat([title_words, category_words, brand_words], axis=1)
  return {
      **_bm25_of_fields(query_words, {'title': title_words, 'category': category_words,
                                      'brand': brand_words}),
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
