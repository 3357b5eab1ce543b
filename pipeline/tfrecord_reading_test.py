"""TensorFlow reading Beam's local TFRecord files: the same records in the same order as Beam's
reader, the range tracker asked as Beam asks it, corrupt data refused, other files left to Beam."""
import gzip
import os

import apache_beam as beam
import pytest
from apache_beam.coders import BytesCoder
from apache_beam.io import tfrecordio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.range_trackers import OffsetRangeTracker, UnsplittableRangeTracker
from apache_beam.testing.util import assert_that, equal_to

from recfusion.pipeline import tfrecord_reading

# Serialized tf.Examples often end in a zero byte, which numpy's fixed-width bytes would drop.
RECORDS = [b'', b'a', b'bb' * 700, b'ends in zeros\x00\x00', b'\x00'] + [
    f'record {i}'.encode() for i in range(2500)]


def _write(path: str, compression: str) -> str:
  with beam.Pipeline() as pipeline:
    _ = (pipeline | beam.Create(RECORDS, reshuffle=False)
         | beam.io.WriteToTFRecord(path, coder=BytesCoder(), num_shards=1,
                                   shard_name_template='', compression_type=compression))
  return path


def _tracker():
  return UnsplittableRangeTracker(OffsetRangeTracker(0, OffsetRangeTracker.OFFSET_INFINITY))


def _read(path: str):
  source = tfrecordio._TFRecordSource(  # pylint: disable=protected-access
      path, BytesCoder(), CompressionTypes.AUTO, validate=False)
  return list(source.read_records(path, _tracker()))


@pytest.mark.parametrize('name,compression', [('data.gz', CompressionTypes.GZIP),
                                              ('data.tfrecord', CompressionTypes.UNCOMPRESSED)])
def test_the_records_and_their_order_are_beams(tmp_path, name, compression):
  path = _write(str(tmp_path / name), compression)
  by_beam = _read(path)
  with tfrecord_reading.native_reads():
    assert _read(path) == by_beam
  assert sorted(by_beam) == sorted(RECORDS)


def test_each_record_is_claimed_at_beams_offset_and_the_end_too(tmp_path):
  path = _write(str(tmp_path / 'data.gz'), CompressionTypes.GZIP)
  claimed = []

  class Recording(OffsetRangeTracker):
    def try_claim(self, position):
      claimed.append(position)
      return super().try_claim(position)

  source = tfrecordio._TFRecordSource(  # pylint: disable=protected-access
      path, BytesCoder(), CompressionTypes.AUTO, validate=False)
  list(source.read_records(path, Recording(0, OffsetRangeTracker.OFFSET_INFINITY)))
  by_beam, claimed[:] = list(claimed), []
  with tfrecord_reading.native_reads():
    list(source.read_records(path, Recording(0, OffsetRangeTracker.OFFSET_INFINITY)))
  assert claimed == by_beam and len(claimed) == len(RECORDS) + 1


def test_a_refused_claim_stops_the_read(tmp_path):
  path = _write(str(tmp_path / 'data.gz'), CompressionTypes.GZIP)
  source = tfrecordio._TFRecordSource(  # pylint: disable=protected-access
      path, BytesCoder(), CompressionTypes.AUTO, validate=False)
  with tfrecord_reading.native_reads():
    with pytest.raises(RuntimeError, match='Unable to claim position: 0'):
      list(source.read_records(path, OffsetRangeTracker(0, 0)))


def test_a_corrupt_record_fails_the_read(tmp_path):
  import tensorflow as tf
  path = _write(str(tmp_path / 'data.gz'), CompressionTypes.GZIP)
  with gzip.open(path) as f:
    data = bytearray(f.read())
  data[len(data) // 2] ^= 0xFF
  with gzip.open(path, 'wb') as f:
    f.write(bytes(data))
  with tfrecord_reading.native_reads():
    with pytest.raises(tf.errors.DataLossError):
      _read(path)


def test_only_local_gzip_or_plain_files_are_read_by_tensorflow():
  compression = tfrecord_reading.tf_compression
  assert compression('/data/x.gz', CompressionTypes.AUTO) == 'GZIP'
  assert compression('file:///data/x.gz', CompressionTypes.AUTO) == 'GZIP'
  assert compression('/data/x.tfrecord', CompressionTypes.AUTO) == ''
  assert compression('/data/x', CompressionTypes.GZIP) == 'GZIP'
  assert compression('gs://bucket/x.gz', CompressionTypes.AUTO) is None
  assert compression('/data/x.bz2', CompressionTypes.AUTO) is None
  assert compression('/data/x', CompressionTypes.DEFLATE) is None


def test_a_pipeline_reads_the_same_elements_through_tensorflow(tmp_path, monkeypatch):
  path = _write(str(tmp_path / 'data.gz'), CompressionTypes.GZIP)
  read = []
  native = tfrecord_reading._native_records  # pylint: disable=protected-access

  def recorded(file_name, compression):
    read.append((file_name, compression))
    return native(file_name, compression)

  monkeypatch.setattr(tfrecord_reading, '_native_records', recorded)
  with tfrecord_reading.native_reads():
    with beam.Pipeline() as pipeline:
      records = pipeline | beam.io.ReadFromTFRecord(os.path.join(tmp_path, '*.gz'),
                                                    coder=BytesCoder())
      assert_that(records, equal_to(RECORDS))
  assert read == [(path, 'GZIP')]


def test_under_another_beam_beams_reader_runs():
  source = tfrecordio._TFRecordSource  # pylint: disable=protected-access
  original = source.read_records
  with tfrecord_reading.native_reads(beam_version='2.61.0'):
    assert source.read_records is original
  with tfrecord_reading.native_reads():
    assert source.read_records is not original
  assert source.read_records is original


def test_the_steps_swap_both_beam_internals_and_restore_them():
  from apache_beam.transforms import userstate
  from recfusion.pipeline import beam_swaps
  source = tfrecordio._TFRecordSource  # pylint: disable=protected-access
  originals = (source.read_records, userstate.get_dofn_specs)
  with beam_swaps.swapped_in():
    assert source.read_records is not originals[0]
    assert userstate.get_dofn_specs is not originals[1]
  assert (source.read_records, userstate.get_dofn_specs) == originals
