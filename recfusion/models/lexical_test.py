"""Unit tests of the lexical features, run through tf.Transform on a tiny corpus."""
import tempfile

import bm25s
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata

from recfusion.models import lexical

TITLES = ['Red Shoe', 'red pan, x', 'Blue lamp red RED', 'green shoe lamp']
ROWS = [
    # query, title, category, brand
    ('red', TITLES[0], 'shoes', 'acme'),
    ('shoe lamp', TITLES[1], 'kitchen', 'zeta'),
    ('red red', TITLES[2], 'home', 'acme'),
    ('zzz', TITLES[3], 'home', 'zeta'),
]
SPEC = {name: tf.io.FixedLenFeature([], tf.string)
        for name in ('query', 'title', 'category', 'brand')}


def _transform(rows):
  raw = [dict(zip(('query', 'title', 'category', 'brand'), row)) for row in rows]
  metadata = dataset_metadata.DatasetMetadata.from_feature_spec(SPEC)
  fn = lambda x: lexical.features(x['query'], x['title'], x['category'], x['brand'])
  with tempfile.TemporaryDirectory() as temp, tft_beam.Context(temp_dir=temp):
    (transformed, _), _ = ((raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn))
  return transformed


@pytest.fixture(scope='module')
def transformed():
  return _transform(ROWS)


def test_bm25_of_the_title_equals_bm25s_on_the_same_corpus(transformed):
  reference = bm25s.BM25()  # Lucene's BM25, k1 = 1.5, b = 0.75
  reference.index([t.lower().replace(',', '').split() for t in TITLES], show_progress=False)
  for row, (query, _, _, _) in zip(transformed, ROWS):
    document = ROWS.index(next(r for r in ROWS if r[0] == query))
    expected = reference.get_scores(query.split())[document]
    assert row['bm25_title'] == pytest.approx(expected, rel=1e-5), query


def test_bm25_of_short_fields(transformed):
  # 'shoes' (category) and 'acme' (brand) are one-word fields; only exact words match.
  assert [r['bm25_category'] for r in transformed] == [0.0, 0.0, 0.0, 0.0]
  assert transformed[0]['bm25_brand'] == 0.0  # query 'red', brand 'acme'


def test_overlaps_survive_typos_units_and_phrases():
  rows = [('runing shoes', 'Trail Running Shoe', 'shoes', 'acme'),
          ('1-gal paint', 'Interior Paint 1 gal', 'paint', 'acme'),
          ('12-gauge wire', 'Copper wire 14 gauge', 'wire', 'acme'),
          ('red shoe', 'shoe red', 'shoes', 'acme')]
  by_query = {r[0]: t for r, t in zip(rows, _transform(rows))}
  typo = by_query['runing shoes']
  # Of the 9 distinct trigrams of 'runingshoes', 'uni' and 'ngs' are not in 'trailrunningshoe'.
  assert typo['query_char3_overlap'] == pytest.approx(7 / 9)
  # 'shoes' starts like 'shoe'; 'runing' ('runi') does not start like 'running' ('runn').
  assert typo['query_prefix_overlap'] == 0.5
  assert typo['bm25_title'] == 0.0  # no exact word in common: what BM25 alone misses
  assert by_query['1-gal paint']['query_number_match'] == 1.0
  assert by_query['1-gal paint']['query_has_number'] == 1.0
  assert by_query['12-gauge wire']['query_number_match'] == 0.0
  assert by_query['12-gauge wire']['query_coverage'] == pytest.approx(2 / 3)
  assert by_query['red shoe']['query_bigram_overlap'] == 0.0
  assert by_query['1-gal paint']['query_bigram_overlap'] == 0.5  # '1 gal' yes, 'gal paint' no
  assert by_query['red shoe']['query_coverage'] == 1.0


def test_an_empty_query_has_no_lexical_signal():
  [row] = _transform([('', 'red shoe', 'shoes', 'acme')])
  assert all(row[name] == 0.0 for name in row), row


def test_padding_follows_the_longest_row_and_a_rows_features_ignore_the_rest_of_its_batch():
  query = tf.constant(['red shoes', 'red shoes'])
  short = tf.constant(['Shoe, red', 'x'])
  long = tf.constant(['Shoe, red', ' '.join(['word'] * 100)])
  # 'shoered' has 5 trigrams, 'x' none: the batch is 5 wide, not TITLE_TRIGRAMS.
  assert lexical.char_trigrams(short, lexical.TITLE_TRIGRAMS).shape == (2, 5)
  assert lexical.char_trigrams(long, lexical.TITLE_TRIGRAMS).shape == (2, lexical.TITLE_TRIGRAMS)
  trigrams = lexical.char_trigrams(query, lexical.QUERY_TRIGRAMS)
  counted = lexical.first_occurrences(trigrams)
  shares = [lexical.share_found(trigrams, lexical.char_trigrams(titles, lexical.TITLE_TRIGRAMS),
                                counted).numpy()[0] for titles in (short, long)]
  # Of the 6 trigrams of 'redshoes', 'red', 'sho' and 'hoe' are in 'shoered', whatever the
  # other row of the batch is.
  assert shares == [0.5, 0.5]


def test_each_fields_bm25_uses_that_fields_own_document_frequencies():
  # 'lamp' is a title word in 1 of 3 rows and a category word in 2: one shared vocabulary of
  # document frequencies must keep the fields apart.
  rows = [('lamp', 'lamp', 'lamp', 'acme'),
          ('lamp', 'red shoe', 'lamp', 'lamp co'),
          ('lamp', 'pan', 'kitchen', 'zeta')]
  transformed = _transform(rows)
  for field, column in (('title', 1), ('category', 2), ('brand', 3)):
    reference = bm25s.BM25()
    reference.index([row[column].split() for row in rows], show_progress=False)
    expected = reference.get_scores(['lamp'])
    assert [r[f'bm25_{field}'] for r in transformed] == pytest.approx(expected, rel=1e-5), field
