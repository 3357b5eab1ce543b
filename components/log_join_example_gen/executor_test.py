"""Component tests: LogJoinExampleGen's executor called directly on small data."""
import glob
import json
import os

import pandas as pd
import pytest
import tensorflow as tf
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts

from recfusion.components.log_join_example_gen import executor as executor_module
from recfusion.data import contract
from recfusion.pipeline import beam_workers

BEAM_ARGS = ['--direct_running_mode=in_memory', '--direct_num_workers=1']


def run_executor(data_dir, out_dir, **overrides):
  examples = standard_artifacts.Examples()
  examples.uri = str(out_dir)
  properties = {
      'input_base': data_dir, 'window_spans': 7,
      'split_config': json.dumps({'mode': 'fractions', 'fractions': {
          'train': 0.5, 'validation': 0.25, 'eval': 0.25}}),
      'negatives_per_request': 4, 'history_max': 20, 'on_unknown_item': 'error', 'seed': 7,
      'earliest_timestamp': 946684800}
  properties.update(overrides)
  context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM_ARGS)
  with beam_workers.tfx_packaging_skipped():  # as the local runner runs it: no TFX sdist
    executor = executor_module.Executor(context)
  executor.Do({}, {'examples': [examples]}, properties)
  return examples


def read_split(examples, split):
  files = glob.glob(os.path.join(artifact_utils.get_split_uri([examples], split), '*.gz'))
  rows = []
  for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
    feature = tf.train.Example.FromString(record.numpy()).features.feature

    def value(name):
      kind = feature[name].WhichOneof('kind')
      values = list(getattr(feature[name], kind).value) if kind else []
      return [v.decode() if isinstance(v, bytes) else v for v in values]
    rows.append({name: value(name) for name in feature})
  return rows


@pytest.fixture(scope='module')
def joined(small_shop_dir, tmp_path_factory):
  examples = run_executor(small_shop_dir, tmp_path_factory.mktemp('examples'))
  return examples, {s: read_split(examples, s) for s in ('train', 'validation', 'eval')}


def test_three_splits_with_counts_matching_the_report(joined):
  examples, splits = joined
  assert artifact_utils.decode_split_names(examples.split_names) == [
      'train', 'validation', 'eval']
  report = json.loads(examples.get_string_custom_property('join_report'))
  for name, rows in splits.items():
    assert len(rows) == report[f'examples_{name}'] > 0
    unengaged = sum(r['gain'][0] <= 0 for r in rows)
    assert report[f'examples_without_engagement_{name}'] == unengaged > 0
  assert report['spans'] == [0, 1, 2, 3]
  assert examples.span == 3
  assert os.path.exists(os.path.join(examples.uri, executor_module.REPORT_FILE))


def test_requests_never_cross_splits_and_splits_follow_time(joined):
  _, splits = joined
  request_sets = {s: {r['request_id'][0] for r in rows} for s, rows in splits.items()}
  assert not request_sets['train'] & request_sets['validation']
  assert not request_sets['train'] & request_sets['eval']
  assert not request_sets['validation'] & request_sets['eval']
  times = {s: [r['timestamp'][0] for r in rows] for s, rows in splits.items()}
  assert max(times['train']) < min(times['validation'])
  assert max(times['validation']) < min(times['eval'])


def test_history_is_exactly_the_earlier_engagement_from_the_raw_logs(joined, small_shop_dir):
  _, splits = joined
  events = pd.concat(pd.read_parquet(p) for p in glob.glob(
      os.path.join(small_shop_dir, 'events/*/*.parquet')))
  request_time = events.groupby('request_id')['timestamp'].min()
  engaged = events[events['event'] != 'impression'].copy()
  engaged['request_time'] = engaged['request_id'].map(request_time)
  checked = 0
  for rows in splits.values():
    for row in rows:
      if row['position'][0] != 0 and row['position'][0] != -1:
        continue  # one candidate per request is enough
      user, when = row['user_id'][0], row['timestamp'][0]
      earlier = engaged[(engaged['user_id'] == user) & (engaged['request_time'] < when)]
      assert set(row['history_item_ids']) == set(earlier['item_id']), row['request_id']
      assert row['history_length'] == [len(row['history_item_ids'])]
      checked += 1
  assert checked > 100


def test_negatives_only_for_requests_without_impressions_and_from_the_catalog(
    joined, small_shop_dir):
  examples, splits = joined
  catalog = set(pd.read_parquet(os.path.join(small_shop_dir, 'catalog.parquet'))['item_id'])
  events = pd.concat(pd.read_parquet(p) for p in glob.glob(
      os.path.join(small_shop_dir, 'events/*/*.parquet')))
  with_impressions = set(events[events['event'] == 'impression']['request_id'])
  logged = set(zip(events['request_id'], events['item_id']))
  negatives = [r for rows in splits.values() for r in rows
               if (r['request_id'][0], r['item_id'][0]) not in logged]
  report = json.loads(examples.get_string_custom_property('join_report'))
  assert len(negatives) == report['sampled_negatives'] > 0
  for row in negatives:
    assert row['request_id'][0] not in with_impressions
    assert row['item_id'][0] in catalog
    assert row['gain'] == [0.0] and row['position'] == [-1]


def test_logs_in_a_bucket_join_to_the_same_examples(joined, small_shop_dir, tmp_path,
                                                   gcs_emulator):
  bucket = gcs_emulator(small_shop_dir, 'gs://example-gen-bucket/shop')
  examples = run_executor(bucket, tmp_path)
  for split in ('train', 'validation', 'eval'):
    key = lambda r: (r['request_id'], r['item_id'])
    assert sorted(read_split(examples, split), key=key) == sorted(joined[1][split], key=key)


def test_window_keeps_only_the_newest_spans(small_shop_dir, tmp_path):
  examples = run_executor(small_shop_dir, tmp_path, window_spans=2)
  spans = {r['span'][0] for s in ('train', 'validation', 'eval') for r in read_split(examples, s)}
  assert spans == {2, 3}


def test_explicit_span_lists(small_shop_dir, tmp_path):
  examples = run_executor(small_shop_dir, tmp_path, split_config=json.dumps(
      {'mode': 'spans', 'spans': {'train': [0, 1], 'validation': [2], 'eval': [3]}}))
  assert {r['span'][0] for r in read_split(examples, 'validation')} == {2}
  assert {r['span'][0] for r in read_split(examples, 'train')} == {0, 1}


def test_bad_row_in_a_span_fails_with_file_row_and_column(handmade_dir, table_writer, tmp_path):
  bad = table_writer(os.path.join(handmade_dir, 'events/span-2/more.csv'), pd.DataFrame({
      'request_id': ['r8'], 'timestamp': [1767225600], 'item_id': ['a'], 'event': ['wishlist']}))
  with pytest.raises(contract.DataContractError) as error:
    run_executor(handmade_dir, tmp_path / 'out')
  assert f"{bad}, row 1 (line 2), column 'event': unknown event 'wishlist'" in str(error.value)


def test_too_little_data_for_a_split_is_a_clear_error(handmade_dir, tmp_path):
  with pytest.raises(contract.DataContractError, match=r"split\(s\) \['validation'\] got no"):
    run_executor(handmade_dir, tmp_path, split_config=json.dumps({'mode': 'fractions',
        'fractions': {'train': 0.4, 'validation': 0.1, 'eval': 0.5}}))


def test_pseudonymized_user_ids_never_reach_the_examples(small_shop_dir, tmp_path, joined,
                                                         monkeypatch):
  from recfusion.data import pseudonyms
  key = 'a-shop-secret-of-32-bytes-------'
  monkeypatch.setenv('TEST_USER_ID_KEY', key)
  examples = run_executor(small_shop_dir, tmp_path, user_id_key_source='env:TEST_USER_ID_KEY')
  raw_users = set(pd.read_parquet(glob.glob(os.path.join(small_shop_dir, 'users.*'))[0])['user_id'])
  for split in ('train', 'validation', 'eval'):
    hashed, plain = read_split(examples, split), joined[1][split]
    assert not {r['user_id'][0] for r in hashed} & raw_users
    # One pseudonym per person, and everything else (histories, segments) joined as before.
    key_of = lambda r: (r['request_id'][0], r['item_id'][0])
    by_key = {key_of(r): r for r in plain}
    for row in hashed:
      original = by_key[key_of(row)]
      assert row['user_id'] == [pseudonyms.pseudonym(key.encode(), original['user_id'][0])]
      assert {k: v for k, v in row.items() if k != 'user_id'} == {
          k: v for k, v in original.items() if k != 'user_id'}
  # Nowhere in what the component wrote: examples (every feature, histories included) and its
  # report.
  import gzip
  written = b''.join(gzip.open(p).read() if p.endswith('.gz') else open(p, 'rb').read()
                     for p in glob.glob(os.path.join(examples.uri, '**', '*'), recursive=True)
                     if os.path.isfile(p))
  assert written and key.encode() not in written
  assert not [u for u in raw_users if u.encode() in written]
