"""Unit tests of preprocessing_fn, run through tf.Transform's Beam implementation on 3 rows."""
import tempfile

import numpy as np
import pytest
import tensorflow_transform.beam as tft_beam
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from recfusion.models import preprocessing
from recfusion.pipeline.factory import curated_schema_path


def _row(query, title, item, category, history_items, history_categories, gain, search,
         history_brands=None, history_prices=None):
  return {
      'request_id': ['r'], 'user_id': ['u'], 'user_segment': ['budget'], 'query': [query],
      'request_type': ['search' if search else 'recommend'], 'timestamp': [1], 'span': [0],
      'item_id': [item], 'title': [title], 'category': [category], 'brand': ['acme'],
      'price': [19.0], 'position': [0], 'gain': [gain], 'history_length': [len(history_items)],
      'history_item_ids': history_items, 'history_categories': history_categories,
      'history_brands': ['acme'] * len(history_items) if history_brands is None
                        else history_brands,
      'history_prices': [19.0] * len(history_items) if history_prices is None
                        else history_prices,
      'history_bucket': ['0'], 'engaged': [int(gain > 0)],
  }


ROWS = [
    _row('Red shoe', 'acme red shoe', 'a', 'shoes', ['b', 'c'], ['shoes', 'kitchen'], 1.0, True,
         history_brands=['acme', 'zeta'], history_prices=[np.e ** 2 - 1, np.e ** 4 - 1]),
    _row('red boot', 'acme red pan', 'b', 'kitchen', [], [], 0.0, True),
    _row('', 'acme green lamp', 'c', 'home', ['c'], ['home'], 3.0, False),
]


@pytest.fixture(scope='module')
def transformed():
  schema = text_format.Parse(open(curated_schema_path()).read(), schema_pb2.Schema())
  feature_spec = schema_utils.schema_as_feature_spec(schema).feature_spec
  metadata = dataset_metadata.DatasetMetadata.from_feature_spec(feature_spec)
  raw = [{k: (np.array(v) if not isinstance(v, list) or v else v) for k, v in row.items()}
         for row in ROWS]
  with tempfile.TemporaryDirectory() as temp, tft_beam.Context(temp_dir=temp):
    (rows, _), _ = ((raw, metadata)
                    | tft_beam.AnalyzeAndTransformDataset(preprocessing.preprocessing_fn))
  return rows


def test_query_title_overlap_is_the_share_of_query_words_in_the_title(transformed):
  assert [r['query_title_overlap'] for r in transformed] == [1.0, 0.5, 0.0]


def test_history_features(transformed):
  assert [r['history_category_share'] for r in transformed] == [0.5, 0.0, 1.0]
  assert [r['item_in_history'] for r in transformed] == [0.0, 0.0, 1.0]
  assert [int((r['history_item_idx'] > 0).sum()) for r in transformed] == [2, 0, 1]
  assert [r['history_brand_share'] for r in transformed] == [0.5, 0.0, 1.0]
  # Row 1: log1p(price) = log(20), history log prices 2 and 4 (mean 3); no history: 0.
  assert transformed[0]['price_gap'] == pytest.approx(abs(np.log(20.0) - 3.0), abs=1e-5)
  assert [r['price_gap'] for r in transformed[1:]] == [0.0, 0.0]
  assert [int((r['history_brand_idx'] > 0).sum()) for r in transformed] == [2, 0, 1]
  assert transformed[0]['history_brand_idx'][0] == transformed[0]['brand_idx']
  assert all(r['history_item_idx'].shape == (preprocessing.HISTORY_ITEMS,) for r in transformed)


def test_tokens_are_padded_with_zero_and_share_one_vocabulary(transformed):
  first = transformed[0]
  assert first['query_tokens'].shape == (preprocessing.QUERY_TOKENS,)
  assert (first['query_tokens'][:2] > 0).all() and (first['query_tokens'][2:] == 0).all()
  # 'red' and 'shoe' are the title's 2nd and 3rd words: same ids through the shared vocabulary.
  assert list(first['query_tokens'][:2]) == list(first['title_tokens'][1:3])
  assert (transformed[2]['query_tokens'] == 0).all()


def test_labels_and_request_context(transformed):
  assert [r['gain'] for r in transformed] == [1.0, 0.0, 3.0]
  assert [r['engaged'] for r in transformed] == [1.0, 0.0, 1.0]
  assert [r['is_search'] for r in transformed] == [1.0, 1.0, 0.0]
  assert [r['query_length'] for r in transformed] == [2.0, 2.0, 0.0]


def test_position_never_reaches_the_transformed_features(transformed):
  assert not any('position' in name for name in transformed[0])


def test_transform_outputs_exactly_the_feature_catalogue(transformed):
  from recfusion import features, keys
  assert set(transformed[0]) == set(features.BY_NAME) | {
      keys.LABEL_KEY, keys.ENGAGED_KEY, keys.REQUEST_ID_KEY}
  for feature in features.CATALOGUE:
    expected = (feature.length,) if feature.kind == 'ids' else ()
    assert np.shape(transformed[0][feature.name]) == expected, feature.name
