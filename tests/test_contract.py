"""Unit tests of the data contract: discovery, typing, and the message for each bad input."""
import os
import re
import shutil

import pandas as pd
import pytest

from recfusion.data import contract

T0 = 1767225600  # 2026-01-01T00:00:00Z: the contract refuses times before 2000


def test_discover_finds_catalog_users_and_sorted_spans(handmade_dir):
  layout = contract.discover(handmade_dir)
  assert layout.catalog_file.endswith('catalog.parquet')
  assert layout.users_file.endswith('users.parquet')
  assert [s.number for s in layout.spans] == [1, 2]
  assert [s.number for s in contract.select_window(layout, 1)] == [2]
  assert [s.number for s in contract.select_window(layout, 5)] == [1, 2]


def test_events_are_typed_and_gains_default_from_event(handmade_dir):
  path = os.path.join(handmade_dir, 'events/span-1/events.parquet')
  events = contract.read_events(path, {'a', 'b', 'c'}).events
  assert events['gain'].tolist() == [0.0, 0.0, 1.0, 3.0]
  assert events['position'].tolist() == [0, 1, 0, -1]
  assert events['timestamp'].dtype == 'int64'


def test_numeric_gain_column_overrides_event_gain(tmp_path, table_writer):
  path = table_writer(str(tmp_path / 'e.csv'), pd.DataFrame({
      'request_id': ['r'], 'timestamp': [T0], 'item_id': ['a'], 'event': ['click'],
      'gain': [0.5]}))
  assert contract.read_events(path, {'a'}).events['gain'].tolist() == [0.5]


def test_iso_timestamps_in_csv_become_epoch_seconds(tmp_path, table_writer):
  path = table_writer(str(tmp_path / 'e.csv'), pd.DataFrame({
      'request_id': ['r', 'r'], 'timestamp': ['2026-01-01T00:00:10Z', str(T0 + 15)],
      'item_id': ['a', 'a'], 'event': ['impression', 'click']}))
  assert contract.read_events(path, {'a'}).events['timestamp'].tolist() == [T0 + 10, T0 + 15]


def _events(**overrides):
  columns = {'request_id': ['r1', 'r1', 'r2'], 'timestamp': [T0 + 1, T0 + 2, T0 + 3],
             'item_id': ['a', 'a', 'b'], 'event': ['impression', 'click', 'impression']}
  columns.update(overrides)
  return pd.DataFrame({k: v for k, v in columns.items() if v is not None})


@pytest.mark.parametrize('suffix', ['.csv', '.parquet'])
@pytest.mark.parametrize('overrides, expected', [
    (dict(event=None), "missing required column(s) ['event']"),
    (dict(timestamp=[str(T0), 'yesterday', str(T0)]), "row 2{line}, column 'timestamp': wrong type"),
    (dict(event=['impression', 'like', 'click']),
     "row 2{line}, column 'event': unknown event 'like'"),
    (dict(item_id=['a', 'a', 'zzz']),
     "row 3{line}, column 'item_id': item 'zzz' is not in the catalog"),
    (dict(position=['0', '-2', '1']), "row 2{line}, column 'position': position must be >= 0"),
])
def test_bad_event_files_name_file_row_and_column(tmp_path, table_writer, suffix, overrides,
                                                  expected):
  frame = _events(**overrides)
  if suffix == '.parquet' and 'timestamp' in overrides:
    frame['timestamp'] = frame['timestamp'].astype(str)
  path = table_writer(str(tmp_path / f'events{suffix}'), frame)
  with pytest.raises(contract.DataContractError) as error:
    contract.read_events(path, {'a', 'b'})
  message = str(error.value)
  assert message.startswith(path)
  row = int(expected.split('row ')[1][0]) if 'row ' in expected else None
  line = f' (line {row + 1})' if suffix == '.csv' and row else ''
  assert expected.format(line=line) in message


def test_unknown_items_can_be_skipped_and_counted(tmp_path, table_writer):
  path = table_writer(str(tmp_path / 'e.parquet'), _events(item_id=['a', 'x', 'x']))
  result = contract.read_events(path, {'a', 'b'}, on_unknown_item='skip')
  assert result.skipped_unknown_item == 2
  assert result.events['item_id'].tolist() == ['a']


def test_wrong_typed_catalog_price_is_reported(tmp_path, table_writer):
  path = table_writer(str(tmp_path / 'catalog.csv'),
                      pd.DataFrame({'item_id': ['a', 'b'], 'price': ['1.5', 'cheap']}))
  with pytest.raises(contract.DataContractError,
                     match=r"catalog.csv, row 2 \(line 3\), column 'price': wrong type: "
                           r"'cheap' is not a number"):
    contract.load_catalog(path)


def test_duplicate_catalog_items_are_reported(tmp_path, table_writer):
  path = table_writer(str(tmp_path / 'catalog.parquet'), pd.DataFrame({'item_id': ['a', 'a']}))
  with pytest.raises(contract.DataContractError, match="row 2, column 'item_id': duplicate"):
    contract.load_catalog(path)


def test_empty_data_folder(tmp_path):
  with pytest.raises(contract.DataContractError, match='data directory is empty'):
    contract.discover(str(tmp_path))


def test_missing_data_folder(tmp_path):
  with pytest.raises(contract.DataContractError, match='does not exist'):
    contract.discover(str(tmp_path / 'nope'))


def test_empty_span_folder(handmade_dir):
  os.makedirs(os.path.join(handmade_dir, 'events', 'span-3'))
  with pytest.raises(contract.DataContractError, match=r'span-3: empty span folder'):
    contract.discover(handmade_dir)


def test_missing_catalog(handmade_dir):
  os.remove(os.path.join(handmade_dir, 'catalog.parquet'))
  with pytest.raises(contract.DataContractError, match='missing catalog.parquet or catalog.csv'):
    contract.discover(handmade_dir)


def test_missing_events_folder(handmade_dir):
  shutil.rmtree(os.path.join(handmade_dir, 'events'))
  with pytest.raises(contract.DataContractError, match='missing events/ folder'):
    contract.discover(handmade_dir)


def test_configured_split_spans_must_exist(handmade_dir):
  layout = contract.discover(handmade_dir)
  with pytest.raises(contract.DataContractError, match=r'configured spans \[9\] not found'):
    contract.select_window(layout, 7, required_spans=[1, 9])


def test_check_data_dir_counts_rows(handmade_dir):
  assert contract.check_data_dir(handmade_dir, 7) == {
      'spans': 2, 'event_rows': 6, 'skipped_unknown_item': 0}


@pytest.mark.parametrize('suffix', ['.csv', '.parquet'])
@pytest.mark.parametrize('value', [float('inf'), float('-inf')])
def test_an_infinite_price_is_refused_naming_the_row(tmp_path, table_writer, suffix, value):
  path = table_writer(str(tmp_path / f'catalog{suffix}'), pd.DataFrame({
      'item_id': ['a', 'b'], 'price': [1.0, value]}))
  with pytest.raises(contract.DataContractError,
                     match=r"row 2.*column 'price': .*inf.* is not a finite number"):
    contract.load_catalog(path)


def test_nan_in_parquet_is_refused_while_null_is_a_missing_value(tmp_path, table_writer):
  path = table_writer(str(tmp_path / 'catalog.parquet'), pd.DataFrame({
      'item_id': ['a', 'b', 'c'], 'price': [1.0, None, float('nan')]}))
  # pandas writes both as null unless told otherwise: write the NaN through pyarrow.
  import pyarrow as pa
  import pyarrow.parquet as pq
  pq.write_table(pa.table({'item_id': ['a', 'b', 'c'],
                           'price': pa.array([1.0, None, float('nan')], from_pandas=False)}),
                 path)
  with pytest.raises(contract.DataContractError,
                     match=rf"^{re.escape(path)}, row 3, column 'price': NaN is not a value"):
    contract.load_catalog(path)
  pq.write_table(pa.table({'item_id': ['a', 'b'], 'price': pa.array([1.0, None])}), path)
  assert contract.load_catalog(path)['price'].tolist() == [1.0, 0.0]


@pytest.mark.parametrize('value', [4102444800, -5, 1e20, (T0 + 5) * 1000, 999])
def test_event_times_outside_2000_to_tomorrow_are_refused_naming_the_row(
    tmp_path, table_writer, value):
  path = table_writer(str(tmp_path / 'e.csv'), pd.DataFrame({
      'request_id': ['r', 'r'], 'timestamp': [str(T0), str(value)],
      'item_id': ['a', 'a'], 'event': ['impression', 'click']}))
  with pytest.raises(contract.DataContractError,
                     match=r"row 2 \(line 3\), column 'timestamp': .* is outside 2000-01-01 "
                           r"\.\. now \+ 1 day"):
    contract.read_events(path, {'a'})


@pytest.mark.parametrize('name', ['span-²', 'span-٤', 'span-1a'])
def test_span_folders_need_ascii_digits(handmade_dir, name):
  shutil.copytree(os.path.join(handmade_dir, 'events', 'span-1'),
                  os.path.join(handmade_dir, 'events', name))
  with pytest.raises(contract.DataContractError, match=f'{name}: span folders are named '
                                                       'span-<N>'):
    contract.discover(handmade_dir)


def test_a_csv_that_is_not_utf8_names_the_line(tmp_path):
  path = tmp_path / 'catalog.csv'
  path.write_bytes(b'item_id,title\na,red shoe\nb,caf\xe9 table\n')
  with pytest.raises(contract.DataContractError,
                     match=r"catalog.csv, line 3, byte 6 of that line: not UTF-8 text "
                           r"\(b'\\xe9'\); save the file as UTF-8"):
    contract.load_catalog(str(path))


def test_a_data_directory_in_a_bucket_reads_like_a_local_one(handmade_dir, gcs_emulator):
  bucket = gcs_emulator(handmade_dir, 'gs://shop-bucket/data')
  layout = contract.discover(bucket)
  assert layout.catalog_file == 'gs://shop-bucket/data/catalog.parquet'
  assert layout.users_file == 'gs://shop-bucket/data/users.parquet'
  assert layout.spans[0].files == ('gs://shop-bucket/data/events/span-1/events.parquet',)
  assert [s.number for s in layout.spans] == [1, 2]
  assert contract.check_data_dir(bucket, 7) == contract.check_data_dir(handmade_dir, 7)
  assert contract.file_stamp(layout.catalog_file)[0] == os.path.getsize(
      os.path.join(handmade_dir, 'catalog.parquet'))


def test_bucket_errors_name_the_uri_row_and_column(handmade_dir, table_writer, gcs_emulator):
  with pytest.raises(contract.DataContractError,
                     match=r'^gs://no-such-bucket/shop: data directory does not exist'):
    contract.discover('gs://no-such-bucket/shop')
  table_writer(os.path.join(handmade_dir, 'events/span-2/more.csv'), pd.DataFrame({
      'request_id': ['r8'], 'timestamp': [1767225600], 'item_id': ['a'], 'event': ['wishlist']}))
  bucket = gcs_emulator(handmade_dir, 'gs://bad-bucket/data')
  with pytest.raises(contract.DataContractError, match=(
      r"^gs://bad-bucket/data/events/span-2/more.csv, row 1 \(line 2\), column 'event': "
      r"unknown event 'wishlist'")):
    contract.check_data_dir(bucket, 7)

