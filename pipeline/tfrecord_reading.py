"""Local TFRecord files read by TensorFlow's C++ reader instead of Beam's Python one.

StatisticsGen, Transform and the Evaluator read the examples through TFXIO, which reads with
Beam's `ReadFromTFRecord`: per record, Python reads a header through Beam's buffered gzip file,
checks two CRCs and reads the payload. The 10x shop's train split (384,301 records, gzip) took
3.7 s that way and 1.3 s through `tf.data.TFRecordDataset` in batches, each offset claimed as
below (0.97 s without the claims), the same bytes in the same order; the DAG reads the train
split in StatisticsGen and Transform and the eval split in StatisticsGen and the Evaluator.

While `native_reads` is open, Beam's TFRecord source reads a local file (no scheme, or file://)
compressed with gzip or not at all through TensorFlow; anything else (gs://, s3://, other codecs)
goes through Beam as before. Beam's TFRecord source cannot be split, so it reads each file from
offset 0 to the end; the range tracker is asked to claim each record's offset as Beam's loop asks
it. Corrupt data fails the read either way, TensorFlow checking the same CRCs, but it raises
`tf.errors.DataLossError` (Beam: ValueError), and since it reads 1,024 records ahead, the good
records before a corrupt one in that batch are not handed on first; either way the step fails.
Only under the Beam this was written against (library_patches), and only in the process that
builds the pipeline: the multi-process DirectRunner's workers read as Beam does.
"""
from typing import Any, Iterator, Optional

import apache_beam as beam
from apache_beam.io import tfrecordio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from recfusion import library_patches

BEAM_VERSION = '2.59.'
# Records handed from TensorFlow to Python at a time: big enough that the per-batch cost
# vanishes, small enough to hold a few MB.
BATCH = 1024
# TensorFlow's names of the codecs it reads; Beam's others stay with Beam.
TF_COMPRESSION = {CompressionTypes.GZIP: 'GZIP', CompressionTypes.UNCOMPRESSED: ''}
# Beam's size of a record in the file (the payload, its length and two CRCs): its offsets.
_encoded_num_bytes = tfrecordio._TFRecordUtil.encoded_num_bytes  # pylint: disable=protected-access


def tf_compression(file_name: str, compression_type: str) -> Optional[str]:
  """TensorFlow's name of the codec Beam would read `file_name` with, or None where TensorFlow
  should not read it (not a local file, or a codec other than gzip or none)."""
  if FileSystems.get_scheme(file_name) not in (None, 'file'):
    return None
  if compression_type == CompressionTypes.AUTO:
    compression_type = CompressionTypes.detect_compression_type(file_name)
  return TF_COMPRESSION.get(compression_type)


def _native_records(file_name: str, compression: str) -> Iterator[bytes]:
  import tensorflow as tf  # the steps that read TFRecords have TensorFlow loaded already
  dataset = tf.data.TFRecordDataset(file_name, compression_type=compression).batch(BATCH)
  # Without tf.data's autotuning, as the Trainers' datasets (recfusion/models/training.py,
  # `without_autotuning`): freeing an autotuned iterator waits for its model thread's sleep;
  # with it on, a 10x Evaluator re-run sat ~3 s idle (wall 17.9 s, CPU 14.9 s).
  options = tf.data.Options()
  options.autotune.enabled = False
  for batch in dataset.with_options(options).as_numpy_iterator():
    yield from batch


def reading_natively(beam_read_records):
  """`_TFRecordSource.read_records` reading local gzip or plain files through TensorFlow."""

  def read_records(self, file_name: str, offset_range_tracker) -> Iterator[Any]:
    compression = tf_compression(file_name, self._compression_type)
    if compression is None:
      yield from beam_read_records(self, file_name, offset_range_tracker)
      return
    if offset_range_tracker.start_position():
      raise ValueError(f'Start position not 0:{offset_range_tracker.start_position()}')
    offset = 0
    for record in _native_records(file_name, compression):
      if not offset_range_tracker.try_claim(offset):
        raise RuntimeError(f'Unable to claim position: {offset}')
      offset += _encoded_num_bytes(record)
      yield self._coder.decode(record)
    # Beam claims the end-of-file offset before it finds the end.
    if not offset_range_tracker.try_claim(offset):
      raise RuntimeError(f'Unable to claim position: {offset}')

  return read_records


def native_reads(beam_version: str = beam.__version__):
  """While open, Beam's TFRecord source reads local gzip or plain files through TensorFlow."""
  source = tfrecordio._TFRecordSource  # pylint: disable=protected-access
  return library_patches.swapped(
      'Apache Beam', beam_version, BEAM_VERSION,
      "TFRecords are read by Beam's Python reader, ~4x slower; pipeline/tfrecord_reading.py",
      (source, 'read_records', reading_natively(source.read_records)))
