"""Objects in a bucket as folders and files, on the GCS emulator (conftest.gcs_emulator)."""
import os

import pytest

from recfusion.data import buckets


@pytest.fixture(scope='module')
def bucket(gcs_emulator, tmp_path_factory):
  local = tmp_path_factory.mktemp('objects')
  for name in ('shop/catalog.csv', 'shop/events/span-1/a.csv', 'shop/events/span-2/b.csv',
               'shop2/catalog.csv'):
    os.makedirs(os.path.dirname(local / name), exist_ok=True)
    (local / name).write_text('item_id\nx\n')
  return gcs_emulator(str(local), 'gs://objects-test')


def test_a_folder_is_the_objects_under_its_prefix_and_not_a_siblings(bucket):
  assert buckets.objects_under(f'{bucket}/shop') == [
      f'{bucket}/shop/catalog.csv', f'{bucket}/shop/events/span-1/a.csv',
      f'{bucket}/shop/events/span-2/b.csv']
  assert buckets.names(f'{bucket}/shop') == ['catalog.csv', 'events']
  assert buckets.names(f'{bucket}/shop/events/') == ['span-1', 'span-2']
  assert buckets.is_folder(f'{bucket}/shop/events') and not buckets.is_folder(f'{bucket}/sho')


def test_objects_their_bytes_and_stamps(bucket):
  assert buckets.is_object(f'{bucket}/shop/catalog.csv')
  assert not buckets.is_object(f'{bucket}/shop/events')
  assert buckets.read_bytes(f'{bucket}/shop/catalog.csv') == b'item_id\nx\n'
  size, updated_ns = buckets.stamp(f'{bucket}/shop/catalog.csv')
  assert size == 10 and updated_ns > 0


def test_missing_buckets_and_objects(bucket):
  assert buckets.objects_under('gs://no-such-bucket-here/shop') == []
  assert not buckets.is_object('gs://no-such-bucket-here/catalog.csv')
  with pytest.raises(buckets.BucketError, match='^cannot read the object: '):
    buckets.read_bytes(f'{bucket}/shop/nothing.csv')
  with pytest.raises(buckets.BucketError, match='no such object'):
    buckets.stamp(f'{bucket}/shop/nothing.csv')
