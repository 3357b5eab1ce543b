import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.utils import util

from recfusion.evaluation import eval_config, extractors, requests


def test_features_read_are_labels_query_slices_and_the_metrics_own():
  config = eval_config.build(0.3, 0.01, rankers=('dcn', 'text'))
  assert extractors.features_read(config) == {
      'request_id', 'gain', 'engaged', 'request_type', 'history_bucket',
      'item_id', 'category', 'brand'}


def test_features_read_include_example_weights_and_sliced_values():
  config = tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(label_key='y', example_weight_key='w')],
      slicing_specs=[tfma.SlicingSpec(feature_values={'country': 'NL'})],
      cross_slicing_specs=[tfma.CrossSlicingSpec(
          baseline_spec=tfma.SlicingSpec(feature_keys=['device']),
          slicing_specs=[tfma.SlicingSpec(feature_keys=['hour'])])])
  assert extractors.features_read(config, metric_features=()) == {
      'y', 'w', 'country', 'device', 'hour'}


def test_slim_keeps_what_metrics_read_and_drops_the_rest():
  batch = {
      constants.INPUT_KEY: np.array([b'serialized', b'bytes']),
      constants.TRANSFORMED_FEATURES_KEY: {'title_tokens': np.zeros((2, 12))},
      constants.FEATURES_KEY: {'request_id': np.array([b'r1', b'r1']),
                               'title': np.array([b'a long title', b'another']),
                               'history_item_id': np.array([[b'i1'], [b'i2']])},
      constants.PREDICTIONS_KEY: {'score': np.array([0.1, 0.2])},
      constants.LABELS_KEY: {'score': np.array([1.0, 0.0])},
  }
  slim = extractors.slim(batch, frozenset({'request_id', 'gain'}))
  assert set(slim) == {constants.FEATURES_KEY, constants.PREDICTIONS_KEY, constants.LABELS_KEY}
  assert list(slim[constants.FEATURES_KEY]) == ['request_id']
  assert slim[constants.PREDICTIONS_KEY] is batch[constants.PREDICTIONS_KEY]
  assert 'title' in batch[constants.FEATURES_KEY]  # the input batch is left as it was


def _batch(request_ids):
  """A batch as TFMA's extractors leave it before unbatching: features as column vectors,
  labels and predictions keyed by model, then output."""
  size = len(request_ids)
  values = np.arange(size, dtype=np.float32)
  return {
      constants.FEATURES_KEY: {
          'request_id': np.array(request_ids, dtype=object).reshape(-1, 1),
          'gain': values.reshape(-1, 1),
          'item_id': np.array([f'i{i}'.encode() for i in range(size)],
                              dtype=object).reshape(-1, 1)},
      constants.LABELS_KEY: {model: {'score': values.reshape(-1, 1)}
                             for model in ('candidate', 'baseline')},
      constants.PREDICTIONS_KEY: {'candidate': {'score': values * 10},
                                  'baseline': {'score': values * 100}},
  }


def _assert_equal_trees(got, expected, path=''):
  if isinstance(expected, dict):
    assert set(got) == set(expected), path
    for key in expected:
      _assert_equal_trees(got[key], expected[key], f'{path}/{key}')
  elif not isinstance(expected, np.ndarray):  # the whole-request marker
    assert got == expected, path
  else:
    assert got.shape == expected.shape and got.dtype == expected.dtype, path
    np.testing.assert_array_equal(got, expected)


def test_split_by_request_equals_tfmas_unbatch_then_merge_of_each_request():
  batch = _batch([b'r2', b'r1', b'r2', b'r3', b'r1', b'r2'])
  examples = util.split_extracts(batch)
  expected = {b'r1': [1, 4], b'r2': [0, 2, 5], b'r3': [3]}
  got = dict(extractors.split_by_request(batch))
  assert set(got) == set(expected)
  for request_id, rows in expected.items():
    _assert_equal_trees(got[request_id], util.merge_extracts([examples[i] for i in rows]))
  # Candidates keep their batch order.
  assert got[b'r2'][constants.PREDICTIONS_KEY]['candidate']['score'].tolist() == [0, 20, 50]


def test_a_request_cut_by_two_batches_is_joined_whole():
  first, second = _batch([b'r1', b'r2']), _batch([b'r2'])
  pieces = [dict(extractors.split_by_request(b))[b'r2'] for b in (first, second)]
  joined = extractors.join_pieces((b'r2', pieces))
  assert joined[constants.FEATURES_KEY]['request_id'].tolist() == [b'r2', b'r2']
  assert joined[constants.PREDICTIONS_KEY]['baseline']['score'].tolist() == [100, 0]
  alone = extractors.join_pieces((b'r1', pieces[:1]))
  assert alone == {**pieces[0], requests.WHOLE_REQUEST_KEY: True}
  assert joined[requests.WHOLE_REQUEST_KEY] is True


def test_pieces_cross_the_shuffle_as_one_pickle_each_and_join_as_before():
  import apache_beam as beam
  first, second = _batch([b'r1', b'r2']), _batch([b'r2'])
  cut = [dict(extractors.cut_into_pieces(b)) for b in (first, second)]
  assert all(isinstance(piece, extractors.RequestPiece) for c in cut for piece in c.values())
  coder = beam.coders.registry.get_coder(object)
  travelled = [coder.decode(coder.encode(c[b'r2'])) for c in cut]
  plain = [dict(extractors.split_by_request(b))[b'r2'] for b in (first, second)]
  _assert_equal_trees(extractors.join_pieces((b'r2', travelled)),
                      extractors.join_pieces((b'r2', plain)))


def test_pieces_whose_keys_differ_are_refused_naming_the_request():
  first, second = _batch([b'r1']), _batch([b'r1'])
  del second[constants.FEATURES_KEY]['item_id']
  pieces = [dict(extractors.split_by_request(b))[b'r1'] for b in (first, second)]
  with pytest.raises(ValueError, match="request b'r1': its candidates in different batches"):
    extractors.join_pieces((b'r1', pieces))


def test_ragged_values_fall_back_to_tfmas_own_split_and_merge():
  batch = _batch([b'r1', b'r2', b'r1'])
  batch[constants.FEATURES_KEY]['tags'] = tfma.types.VarLenTensorValue.from_dense_rows(
      [np.array([b'a']), np.array([b'b', b'c']), np.array([b'd', b'e'])])
  examples = util.split_extracts(batch)
  got = dict(extractors.split_by_request(batch))
  _assert_equal_trees({k: v for k, v in got[b'r2'].items()},
                      util.merge_extracts([examples[1]]))
  assert set(got) == {b'r1', b'r2'}


def test_a_batch_without_request_ids_says_which_feature_is_missing():
  batch = _batch([b'r1'])
  del batch[constants.FEATURES_KEY]['request_id']
  with pytest.raises(ValueError, match="no 'request_id' feature .*'gain', 'item_id'"):
    list(extractors.split_by_request(batch))


def test_custom_extractors_replace_tfmas_unbatching_with_slim_and_requests():
  config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(label_key='gain',
                                                       prediction_key='score')])
  stages = [e.stage_name for e in extractors.custom_extractors(eval_config=config)]
  default = [e.stage_name for e in tfma.default_extractors(eval_config=config)]
  unbatch = default.index(extractors.UNBATCH_STAGE_NAME)
  assert stages == (default[:unbatch] + [extractors.SLIM_STAGE_NAME,
                                         extractors.REQUESTS_STAGE_NAME] + default[unbatch + 1:])


def test_a_query_key_is_refused_since_extracts_are_requests_already():
  config = tfma.EvalConfig(metrics_specs=[tfma.MetricsSpec(query_key='request_id')])
  with pytest.raises(ValueError, match="sets MetricsSpec.query_key \\('request_id'\\)"):
    extractors.custom_extractors(eval_config=config)
def test_without_an_unbatch_stage_it_says_so(monkeypatch):
  monkeypatch.setattr(tfma, 'default_extractors', lambda **kwargs: [])
  with pytest.raises(ValueError, match='no ExtractUnbatchedInputs stage'):
    extractors.custom_extractors(eval_config=tfma.EvalConfig())


def test_a_leaf_held_twice_is_taken_once_and_crosses_the_shuffle_once():
  import pickle
  batch = _batch([b'r1', b'r2', b'r1'])
  gain = batch[constants.FEATURES_KEY]['gain']
  for model in ('candidate', 'baseline'):  # as TFMA's label extractor reads the gain feature
    batch[constants.LABELS_KEY][model]['score'] = gain
  piece = dict(extractors.split_by_request(batch))[b'r1']
  labels = piece[constants.LABELS_KEY]
  assert labels['candidate']['score'] is piece[constants.FEATURES_KEY]['gain']
  assert labels['baseline']['score'] is piece[constants.FEATURES_KEY]['gain']
  assert piece[constants.FEATURES_KEY]['gain'].tolist() == [0.0, 2.0]
  # Equal values held as distinct arrays stay distinct: only the same array is shared.
  assert piece[constants.PREDICTIONS_KEY]['candidate']['score'] is not (
      piece[constants.PREDICTIONS_KEY]['baseline']['score'])
  unshared = {**piece, constants.LABELS_KEY: {m: {'score': gain[[0, 2], 0].copy()}
                                              for m in ('candidate', 'baseline')}}
  assert len(pickle.dumps(piece)) < len(pickle.dumps(unshared))
  travelled = pickle.loads(pickle.dumps(extractors.RequestPiece(piece))).extracts
  _assert_equal_trees(travelled, piece)
