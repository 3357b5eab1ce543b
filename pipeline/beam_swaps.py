"""What recfusion swaps in Beam while its steps build and run, in the local DAG, in each Kubeflow
task and in the bench's re-runs of a step: Beam's DoFn reflection answered once per DoFn
(`beam_reflection.py`) and local TFRecord files read by TensorFlow (`tfrecord_reading.py`). Each
is gated on the Beam version it was written against."""
import contextlib
from typing import Iterator

from recfusion.pipeline import beam_reflection, tfrecord_reading


@contextlib.contextmanager
def swapped_in() -> Iterator[None]:
  with beam_reflection.dofn_specs_remembered(), tfrecord_reading.native_reads():
    yield
