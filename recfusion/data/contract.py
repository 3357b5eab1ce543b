"""The input data contract (docs/architecture.md §3): discovery, reading and validation of a shop's logs.

Layout of a data directory:
  catalog.{parquet,csv}             item_id; optional title, category, brand, price
  users.{parquet,csv}               optional file: user_id; optional segment
  events/span-<N>/*.{parquet,csv}   request_id, timestamp, item_id, event;
                                    optional user_id, query, position, gain

Every problem is a DataContractError whose message names the file, and the row and column where
one applies. Rows are counted from 1 over data rows; for CSV files the line number is given too.
"""
import contextlib
import dataclasses
import io
import os
import re
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from recfusion.data.errors import DataContractError  # pylint: disable=unused-import  (raised here, caught by its old name)

EVENT_GAINS: Dict[str, float] = {
    'impression': 0.0, 'click': 1.0, 'add_to_cart': 2.0, 'purchase': 3.0}
EVENT_REQUIRED = ('request_id', 'timestamp', 'item_id', 'event')
EVENT_OPTIONAL = ('user_id', 'query', 'position', 'gain')
CATALOG_OPTIONAL = ('title', 'category', 'brand', 'price')
SUPPORTED_SUFFIXES = ('.parquet', '.csv')
_SPAN_DIR = re.compile(r'^span-(.+)$')
_SPAN_NUMBER = re.compile(r'^[0-9]+$')  # ASCII digits only: str.isdigit() accepts '²' and '٤'
# Event times outside [data.earliest_timestamp (default 2000-01-01), now + 1 day] are clock or
# unit errors (milliseconds, a placeholder date of 2100, an overflowed 1e20): refused with the
# row, not split silently.
EARLIEST_TIMESTAMP = 946684800
FUTURE_SLACK_S = 86400


def contract_error(path: str, message: str, row: Optional[int] = None,
                   column: Optional[str] = None) -> DataContractError:
  where = path
  if row is not None:
    where += f', row {row}'
    if path.endswith('.csv'):
      where += f' (line {row + 1})'
  if column is not None:
    where += f", column '{column}'"
  return DataContractError(f'{where}: {message}')


@dataclasses.dataclass(frozen=True)
class Span:
  number: int
  path: str
  files: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class DataLayout:
  data_dir: str
  catalog_file: str
  users_file: Optional[str]
  spans: Tuple[Span, ...]  # sorted by span number


# A data directory may be a local folder or a bucket URI (gs://, s3://, ...), read by the same
# code in `recfusion data check`, the local runner and LogJoinExampleGen on a cluster. URIs go
# through Beam's file systems (recfusion/data/buckets.py); local paths through the os module,
# so checking local data does not wait for Beam or TensorFlow to import.
def is_uri(path: str) -> bool:
  return '://' in path


@contextlib.contextmanager
def _bucket_errors(path: str):
  """A bucket that cannot be listed or read is a contract error naming the URI."""
  from recfusion.data import buckets
  try:
    yield buckets
  except buckets.BucketError as e:
    raise contract_error(path, str(e)) from e


def _is_dir(path: str) -> bool:
  if is_uri(path):
    with _bucket_errors(path) as buckets:
      return buckets.is_folder(path)
  return os.path.isdir(path)


def _is_file(path: str) -> bool:
  if is_uri(path):
    with _bucket_errors(path) as buckets:
      return buckets.is_object(path)
  return os.path.isfile(path)


def _names(folder: str) -> List[str]:
  if is_uri(folder):
    with _bucket_errors(folder) as buckets:
      return buckets.names(folder)
  return sorted(os.listdir(folder))


def _read_bytes(path: str) -> bytes:
  if is_uri(path):
    with _bucket_errors(path) as buckets:
      return buckets.read_bytes(path)
  with open(path, 'rb') as f:
    return f.read()


def file_stamp(path: str) -> Tuple[int, int]:
  """(size in bytes, modification time in ns) of a file, local or in a bucket."""
  if is_uri(path):
    with _bucket_errors(path) as buckets:
      return buckets.stamp(path)
  stat = os.stat(path)
  return stat.st_size, stat.st_mtime_ns


def _single_table(data_dir: str, stem: str, required: bool) -> Optional[str]:
  found = [os.path.join(data_dir, stem + s) for s in SUPPORTED_SUFFIXES
           if _is_file(os.path.join(data_dir, stem + s))]
  if len(found) > 1:
    raise contract_error(data_dir, f'both {stem}.parquet and {stem}.csv exist; keep one')
  if not found:
    if required:
      raise contract_error(data_dir, f'missing {stem}.parquet or {stem}.csv '
                           '(see schemas/README.md for the data contract)')
    return None
  return found[0]


def discover(data_dir: str) -> DataLayout:
  """Finds the catalog, users and event spans of a data directory, checking its shape."""
  if not _is_dir(data_dir):
    raise contract_error(data_dir, 'data directory does not exist')
  if not _names(data_dir):
    raise contract_error(data_dir, 'data directory is empty; expected catalog and events/ '
                         '(see schemas/README.md, or `recfusion data generate`)')
  catalog = _single_table(data_dir, 'catalog', required=True)
  users = _single_table(data_dir, 'users', required=False)
  events_dir = os.path.join(data_dir, 'events')
  if not _is_dir(events_dir):
    raise contract_error(data_dir, 'missing events/ folder with span-<N> subfolders')
  spans = []
  for name in _names(events_dir):
    match = _SPAN_DIR.match(name)
    path = os.path.join(events_dir, name)
    if not match or not _is_dir(path):
      continue
    if not _SPAN_NUMBER.match(match.group(1)):
      raise contract_error(path, 'span folders are named span-<N> with N a whole number')
    files = tuple(os.path.join(path, f) for f in _names(path)
                  if f.endswith(SUPPORTED_SUFFIXES) and not f.startswith('.'))
    if not files:
      raise contract_error(path, 'empty span folder: no .parquet or .csv event files')
    spans.append(Span(int(match.group(1)), path, files))
  if not spans:
    raise contract_error(events_dir, 'no span-<N> folders with event files')
  spans.sort(key=lambda s: s.number)
  numbers = [s.number for s in spans]
  if len(set(numbers)) != len(numbers):
    raise contract_error(events_dir, f'duplicate span numbers in {numbers}')
  return DataLayout(data_dir, catalog, users, tuple(spans))


def select_window(layout: DataLayout, window_spans: int,
                  required_spans: Sequence[int] = ()) -> Tuple[Span, ...]:
  """The newest `window_spans` spans, or exactly `required_spans` when given."""
  if required_spans:
    by_number = {s.number: s for s in layout.spans}
    missing = sorted(set(required_spans) - set(by_number))
    if missing:
      raise contract_error(os.path.join(layout.data_dir, 'events'),
                           f'configured spans {missing} not found; present: {sorted(by_number)}')
    return tuple(by_number[n] for n in sorted(set(required_spans)))
  return layout.spans[-window_spans:]


def read_table(path: str) -> pd.DataFrame:
  """Reads a parquet file with its types, or a CSV file as strings (types are checked later)."""
  try:
    source = path
    if is_uri(path):
      # Whole into memory: one catalog or span file, and pyarrow needs a seekable file.
      source = io.BytesIO(_read_bytes(path))
    if path.endswith('.parquet'):
      table = pq.read_table(source)
      _refuse_parquet_nan(table, path)
      return table.to_pandas()
    return pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[''],
                       encoding='utf-8')
  except DataContractError:
    raise
  except UnicodeDecodeError as e:
    raise _decode_error(path) from e
  except pd.errors.ParserError as e:
    raise contract_error(path, f'cannot parse CSV: {e}') from e
  except (OSError, ValueError) as e:
    raise contract_error(path, f'cannot read file: {e}') from e


def _refuse_parquet_nan(table, path: str) -> None:
  """Parquet keeps NaN apart from null; pandas would merge them, and a NaN price or gain would
  reach training. A missing value is a null."""
  import pyarrow as pa
  import pyarrow.compute as pc
  for name in table.column_names:
    column = table.column(name)
    if pa.types.is_floating(column.type):
      nan = pc.fill_null(pc.is_nan(column), False).to_numpy()
      if nan.any():
        raise contract_error(path, 'NaN is not a value (leave the cell null when it is '
                             'missing)', _first_bad(nan), name)


def _decode_error(path: str) -> DataContractError:
  """Where a CSV file stops being UTF-8, as a line and a byte of that line."""
  raw = _read_bytes(path)
  try:
    raw.decode('utf-8')
    return contract_error(path, 'cannot read file: not UTF-8 text')
  except UnicodeDecodeError as e:
    line = raw.count(b'\n', 0, e.start) + 1
    column = e.start - (raw.rfind(b'\n', 0, e.start) + 1) + 1
    return DataContractError(
        f'{path}, line {line}, byte {column} of that line: not UTF-8 text '
        f'({raw[e.start:e.start + 1]!r}); save the file as UTF-8')


def _require_columns(frame: pd.DataFrame, path: str, required: Sequence[str]) -> None:
  missing = [c for c in required if c not in frame.columns]
  if missing:
    raise contract_error(path, f'missing required column(s) {missing}; '
                         f'found {list(frame.columns)}')


def _first_bad(mask: np.ndarray) -> int:
  return int(np.flatnonzero(mask)[0]) + 1


def _id_column(frame: pd.DataFrame, path: str, column: str, allow_missing: bool) -> pd.Series:
  """Ids may be strings or whole numbers; both become strings."""
  series = frame[column]
  missing = series.isna().to_numpy()
  if missing.any() and not allow_missing:
    raise contract_error(path, 'missing value', _first_bad(missing), column)
  if pd.api.types.is_float_dtype(series) or pd.api.types.is_bool_dtype(series):
    raise contract_error(path, f'wrong type {series.dtype}: ids are strings or integers',
                         column=column)
  return series.map(lambda v: '' if v is None or v != v else str(v))


def _integer_column(frame: pd.DataFrame, path: str, column: str,
                    allow_missing: bool) -> pd.Series:
  series = frame[column]
  if pd.api.types.is_datetime64_any_dtype(series):
    return series.astype('int64') // 10**9
  if pd.api.types.is_bool_dtype(series):
    raise contract_error(path, 'wrong type bool: expected integers', column=column)
  # float64 turns nullable integers' <NA> into NaN, so masks below stay plain booleans.
  numeric = pd.to_numeric(series, errors='coerce').astype('float64')
  bad = (numeric.isna() & series.notna()).to_numpy()
  if not bad.any() and pd.api.types.is_numeric_dtype(numeric):
    fractional = (numeric.notna() & (numeric.fillna(0) % 1 != 0)).to_numpy()
    bad = fractional
  if bad.any():
    row = _first_bad(bad)
    raise contract_error(path, f'wrong type: {series.iloc[row - 1]!r} is not an integer',
                         row, column)
  missing = numeric.isna().to_numpy()
  if missing.any() and not allow_missing:
    raise contract_error(path, 'missing value', _first_bad(missing), column)
  return numeric


def _float_column(frame: pd.DataFrame, path: str, column: str) -> pd.Series:
  series = frame[column]
  if pd.api.types.is_bool_dtype(series):
    raise contract_error(path, 'wrong type bool: expected numbers', column=column)
  numeric = pd.to_numeric(series, errors='coerce').astype('float64')
  bad = (numeric.isna() & series.notna()).to_numpy()
  if bad.any():
    row = _first_bad(bad)
    raise contract_error(path, f'wrong type: {series.iloc[row - 1]!r} is not a number',
                         row, column)
  infinite = np.isinf(numeric.to_numpy())
  if infinite.any():
    row = _first_bad(infinite)
    raise contract_error(path, f'{series.iloc[row - 1]!r} is not a finite number', row,
                         column)
  return numeric.astype('float64')


def _text_column(frame: pd.DataFrame, path: str, column: str) -> pd.Series:
  series = frame[column]
  if pd.api.types.is_numeric_dtype(series) and not series.isna().all():
    raise contract_error(path, f'wrong type {series.dtype}: expected text', column=column)
  return series.map(lambda v: '' if v is None or v != v else str(v))


def _timestamp_column(frame: pd.DataFrame, path: str,
                      earliest: int = EARLIEST_TIMESTAMP) -> pd.Series:
  """Epoch seconds, a parquet timestamp, or (in CSV) ISO-8601 text."""
  series = frame['timestamp']
  if pd.api.types.is_datetime64_any_dtype(series):
    if series.isna().any():
      raise contract_error(path, 'missing value', _first_bad(series.isna().to_numpy()),
                           'timestamp')
    if getattr(series.dt, 'tz', None) is not None:
      series = series.dt.tz_convert('UTC').dt.tz_localize(None)
    return _within_sane_times(series.astype('int64') // 10**9, series, path, earliest)
  numeric = pd.to_numeric(series, errors='coerce')
  unparsed = (numeric.isna() & series.notna()).to_numpy()
  if unparsed.any() and series.dtype == object:
    parsed = pd.to_datetime(series[unparsed], errors='coerce', utc=True)
    numeric = numeric.astype('float64')
    numeric[unparsed] = parsed.astype('int64') // 10**9
    numeric[unparsed & parsed.reindex(series.index).isna().to_numpy()] = np.nan
    still_bad = (numeric.isna() & series.notna()).to_numpy()
    if still_bad.any():
      row = _first_bad(still_bad)
      raise contract_error(path, f'wrong type: {series.iloc[row - 1]!r} is neither epoch '
                           'seconds nor an ISO-8601 time', row, 'timestamp')
  elif unparsed.any():
    row = _first_bad(unparsed)
    raise contract_error(path, f'wrong type: {series.iloc[row - 1]!r} is not a timestamp',
                         row, 'timestamp')
  frame = frame.assign(timestamp=numeric)
  seconds = _integer_column(frame, path, 'timestamp', allow_missing=False)
  return _within_sane_times(seconds, series, path, earliest)


def _within_sane_times(seconds: pd.Series, given: pd.Series, path: str,
                       earliest: int) -> pd.Series:
  latest = time.time() + FUTURE_SLACK_S
  outside = ((seconds < earliest) | (seconds > latest)).to_numpy()
  if outside.any():
    row = _first_bad(outside)
    since = time.strftime('%Y-%m-%d', time.gmtime(earliest))
    raise contract_error(
        path, f'{given.iloc[row - 1]!r} is outside {since} .. now + 1 day (epoch seconds '
        'expected; milliseconds or a placeholder date? older logs: set '
        'data.earliest_timestamp)', row, 'timestamp')
  return seconds.astype('int64')


def load_catalog(path: str) -> pd.DataFrame:
  frame = read_table(path)
  _require_columns(frame, path, ['item_id'])
  if frame.empty:
    raise contract_error(path, 'the catalog has no items')
  out = pd.DataFrame({'item_id': _id_column(frame, path, 'item_id', allow_missing=False)})
  duplicated = out['item_id'].duplicated().to_numpy()
  if duplicated.any():
    row = _first_bad(duplicated)
    raise contract_error(path, f'duplicate item_id {out["item_id"].iloc[row - 1]!r}',
                         row, 'item_id')
  for column in ('title', 'category', 'brand'):
    out[column] = _text_column(frame, path, column) if column in frame else ''
  out['price'] = (_float_column(frame, path, 'price').fillna(0.0)
                  if 'price' in frame else 0.0)
  negative = (out['price'] < 0).to_numpy()
  if negative.any():
    raise contract_error(path, 'price must not be negative', _first_bad(negative), 'price')
  return out.reset_index(drop=True)


def load_users(path: Optional[str], pseudonymize=None) -> pd.DataFrame:
  """`pseudonymize`: replaces the user id column (data/pseudonyms.py) before anything, the
  duplicate check's message included, sees it."""
  if path is None:
    return pd.DataFrame({'user_id': pd.Series([], dtype=str),
                         'segment': pd.Series([], dtype=str)})
  frame = read_table(path)
  _require_columns(frame, path, ['user_id'])
  out = pd.DataFrame({'user_id': _id_column(frame, path, 'user_id', allow_missing=False)})
  if pseudonymize is not None:
    out['user_id'] = pseudonymize(out['user_id'])
  out['segment'] = _text_column(frame, path, 'segment') if 'segment' in frame else ''
  duplicated = out['user_id'].duplicated().to_numpy()
  if duplicated.any():
    row = _first_bad(duplicated)
    raise contract_error(path, f'duplicate user_id {out["user_id"].iloc[row - 1]!r}',
                         row, 'user_id')
  return out


@dataclasses.dataclass
class EventFileResult:
  events: pd.DataFrame
  skipped_unknown_item: int


def validate_events(frame: pd.DataFrame, path: str, catalog_ids: 'set[str]',
                    on_unknown_item: str = 'error',
                    earliest_timestamp: int = EARLIEST_TIMESTAMP) -> EventFileResult:
  """Normalizes one event file to typed columns, or raises naming the first bad row."""
  _require_columns(frame, path, EVENT_REQUIRED)
  if frame.empty:
    raise contract_error(path, 'event file has no rows')
  out = pd.DataFrame({
      'request_id': _id_column(frame, path, 'request_id', allow_missing=False),
      'timestamp': _timestamp_column(frame, path, earliest_timestamp),
      'item_id': _id_column(frame, path, 'item_id', allow_missing=False),
  })
  events = _text_column(frame, path, 'event')
  unknown = ~events.isin(list(EVENT_GAINS)).to_numpy()
  if unknown.any():
    row = _first_bad(unknown)
    raise contract_error(path, f'unknown event {events.iloc[row - 1]!r}; expected one of '
                         f'{list(EVENT_GAINS)}', row, 'event')
  out['event'] = events
  out['user_id'] = (_id_column(frame, path, 'user_id', allow_missing=True)
                    if 'user_id' in frame else '')
  out['query'] = _text_column(frame, path, 'query') if 'query' in frame else ''
  position = (_integer_column(frame, path, 'position', allow_missing=True)
              if 'position' in frame else pd.Series(np.nan, index=frame.index))
  negative = (position < 0).to_numpy()
  if negative.any():
    raise contract_error(path, 'position must be >= 0', _first_bad(negative), 'position')
  out['position'] = position.fillna(-1).astype('int64')
  default_gain = events.map(EVENT_GAINS).astype('float64')
  if 'gain' in frame:
    gain = _float_column(frame, path, 'gain')
    if (gain < 0).any():
      raise contract_error(path, 'gain must be >= 0', _first_bad((gain < 0).to_numpy()),
                           'gain')
    out['gain'] = gain.fillna(default_gain)
  else:
    out['gain'] = default_gain
  absent = ~out['item_id'].isin(catalog_ids).to_numpy()
  skipped = 0
  if absent.any():
    if on_unknown_item != 'skip':
      row = _first_bad(absent)
      raise contract_error(
          path, f'item {out["item_id"].iloc[row - 1]!r} is not in the catalog '
          f'({int(absent.sum())} such rows in this file; set data.on_unknown_item=skip '
          'to drop and count them)', row, 'item_id')
    skipped = int(absent.sum())
    out = out[~absent]
  return EventFileResult(out.reset_index(drop=True), skipped)


def read_events(path: str, catalog_ids: 'set[str]', on_unknown_item: str = 'error',
                earliest_timestamp: int = EARLIEST_TIMESTAMP,
                pseudonymize=None) -> EventFileResult:
  result = validate_events(read_table(path), path, catalog_ids, on_unknown_item,
                           earliest_timestamp)
  if pseudonymize is not None:
    result.events['user_id'] = pseudonymize(result.events['user_id'])
  return result


def check_data_dir(data_dir: str, window_spans: int, required_spans: Sequence[int] = (),
                   on_unknown_item: str = 'error',
                   earliest_timestamp: int = EARLIEST_TIMESTAMP,
                   pseudonymize=None) -> Dict[str, int]:
  """Validates everything the pipeline would read, before it runs. Returns counts."""
  layout = discover(data_dir)
  catalog = load_catalog(layout.catalog_file)
  load_users(layout.users_file, pseudonymize)
  catalog_ids = set(catalog['item_id'])
  counts = {'spans': 0, 'event_rows': 0, 'skipped_unknown_item': 0}
  for span in select_window(layout, window_spans, required_spans):
    counts['spans'] += 1
    for path in span.files:
      result = read_events(path, catalog_ids, on_unknown_item, earliest_timestamp,
                           pseudonymize)
      counts['event_rows'] += len(result.events)
      counts['skipped_unknown_item'] += result.skipped_unknown_item
  return counts


def span_numbers(spans: Sequence[Span]) -> List[int]:
  return [s.number for s in spans]
