"""`recfusion predict` input handling (the model-backed ranking is tested end to end)."""

import pytest

from recfusion import predict
from recfusion.data import join
from recfusion.data.contract import DataContractError

CATALOG = {'a': join.CatalogItem('red shoe', 'shoes', 'x', 10.0)}


def test_requests_are_read_with_line_numbers(tmp_path):
  path = tmp_path / 'r.jsonl'
  path.write_text('{"request_id": "r1", "candidates": ["a"]}\n\n'
                  '{"request_id": "r2", "candidates": ["a"]}\n')
  assert [n for n, _ in predict.read_requests(str(path))] == [1, 3]


@pytest.mark.parametrize('line, message', [
    ('{"request_id": ', 'line 1: not valid JSON'),
    ('{"request_id": "r"}', 'line 1: a request is an object with a non-empty "candidates"'),
    ('{"candidates": ["a"], "history": "abc"}', 'line 1: "history" is a list of item ids'),
    ('{"candidates": [{"item_id": "x", "price": NaN}]}', 'line 1: NaN is not a number JSON'),
    ('{"candidates": [{"item_id": "x", "price": 1e400}]}', None),  # parses as inf: below
])
def test_bad_request_lines(tmp_path, line, message):
  path = tmp_path / 'r.jsonl'
  path.write_text(line + '\n')
  if message is None:
    assert len(list(predict.read_requests(str(path)))) == 1
    return
  with pytest.raises(DataContractError, match=message):
    list(predict.read_requests(str(path)))


@pytest.mark.parametrize('price', [float('inf'), -1, '12', True])
def test_a_candidate_price_must_be_a_finite_number(price):
  request = {'candidates': [{'item_id': 'x', 'price': price}]}
  with pytest.raises(DataContractError, match=r'here: candidate .x.: price must be a finite '
                                              r'number >= 0'):
    predict.build_request_examples(request, CATALOG, {}, 'here')


def test_a_line_that_is_not_utf8_is_named(tmp_path):
  path = tmp_path / 'r.jsonl'
  path.write_bytes(b'{"candidates": ["a"]}\n{"query": "caf\xe9", "candidates": ["a"]}\n')
  with pytest.raises(DataContractError, match=r'line 2: not UTF-8 text \(byte 15 of the line\)'):
    list(predict.read_requests(str(path)))


def test_every_line_is_checked_before_the_model_loads(tmp_path, monkeypatch):
  import tensorflow as tf
  loaded = []
  monkeypatch.setattr(tf.saved_model, 'load', lambda path: loaded.append(path))
  path = tmp_path / 'r.jsonl'
  path.write_text('{"candidates": ["a"]}\n{"candidates": ["nope"]}\n')
  with pytest.raises(DataContractError, match="line 2: item 'nope' is not in the catalog"):
    list(predict.rank('model', predict.read_requests(str(path)), str(path), CATALOG, {}))
  assert not loaded


def test_examples_use_catalog_ids_and_inline_candidates():
  request = {'request_id': 'r1', 'user_id': 'u', 'query': 'red shoe', 'history': ['a'],
             'candidates': ['a', {'item_id': 'new', 'title': 'blue boot', 'price': 5}]}
  ids, examples = predict.build_request_examples(request, CATALOG, {'u': 'budget'}, 'here')
  assert ids == ['a', 'new']
  import tensorflow as tf
  parsed = [tf.train.Example.FromString(e).features.feature for e in examples]
  assert parsed[1]['title'].bytes_list.value == [b'blue boot']
  assert parsed[0]['history_item_ids'].bytes_list.value == [b'a']
  assert parsed[0]['user_segment'].bytes_list.value == [b'budget']


def test_unknown_candidate_id_is_an_error_naming_the_line():
  with pytest.raises(DataContractError, match="req.jsonl, line 4: item 'zzz' is not in the"):
    predict.build_request_examples({'candidates': ['zzz']}, CATALOG, {}, 'req.jsonl, line 4')


def test_model_resolution_errors(tmp_path):
  with pytest.raises(DataContractError, match="no pushed model 'latest'"):
    predict.resolve_model('latest', str(tmp_path))
  with pytest.raises(DataContractError, match='neither a folder nor a registry version'):
    predict.resolve_model('best-one', str(tmp_path))
  (tmp_path / 'm').mkdir()
  with pytest.raises(DataContractError, match='not a SavedModel'):
    predict.resolve_model(str(tmp_path / 'm'), str(tmp_path))


def test_predict_knows_users_by_the_pseudonyms_the_models_were_trained_with(
    tmp_path, handmade_dir, monkeypatch):
  from recfusion.data import pseudonyms
  key = 'a-shop-secret-of-32-bytes-------'
  monkeypatch.setenv('SHOP_USER_KEY', key)
  model = tmp_path / 'model'
  model.mkdir()
  (model / 'saved_model.pb').write_text('not loaded here')
  requests = tmp_path / 'r.jsonl'
  requests.write_text('{"request_id": "q", "user_id": "u2", "candidates": ["a"]}\n'
                      '{"request_id": "anonymous", "candidates": ["a"]}\n')
  seen = {}

  def rank(model_path, lines, source, catalog, segments, top):
    seen.update(requests=[request for _, request in lines], segments=segments)
    return iter([])

  monkeypatch.setattr(predict, 'rank', rank)
  list(predict.rank_file(str(model), str(tmp_path / 'registry'), str(requests), handmade_dir,
                         user_id_key_source='env:SHOP_USER_KEY'))
  hashed = pseudonyms.pseudonym(key.encode(), 'u2')
  assert seen['requests'][0]['user_id'] == hashed
  assert 'user_id' not in seen['requests'][1]
  assert seen['segments'][hashed] == 'premium' and 'u2' not in seen['segments']
