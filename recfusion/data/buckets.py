"""Files in object stores (gs://, s3://, ...) through Apache Beam's FileSystems.

Beam is the layer the pipeline's own readers use, so a bucket the pipeline's Beam steps can read
is one recfusion can check and join: gs:// with google-cloud-storage (in the image), s3:// with
`apache-beam[aws]`, hdfs:// and azfs:// with theirs. Beam's GCS client honours
STORAGE_EMULATOR_HOST, which is how the tests reach a local emulator.

An object store has objects, not folders: a "folder" is the set of objects sharing a prefix, and
exists exactly when one object is under it.
"""
import contextlib
import logging
from typing import Iterator, List, Tuple


class BucketError(OSError):
  """A bucket could not be listed or read for a reason other than "not there"."""


def _filesystems():
  # Beam's imports are heavy and a local data check must not pay for them.
  from apache_beam.io.filesystems import FileSystems
  return FileSystems


def _causes(error: BaseException) -> Iterator[BaseException]:
  """The errors Beam wraps, innermost included (BeamIOError nests them per path)."""
  yield error
  for inner in (getattr(error, 'exception_details', None) or {}).values():
    if isinstance(inner, BaseException):
      yield from _causes(inner)


def _not_found(error: BaseException) -> bool:
  return any(isinstance(c, FileNotFoundError) or getattr(c, 'code', None) == 404
             or type(c).__name__ in ('NotFound', 'NoSuchBucket', 'NoSuchKey')
             for c in _causes(error))


def _innermost(error: BaseException) -> str:
  return str(list(_causes(error))[-1])


@contextlib.contextmanager
def _quiet_auth():
  """Beam logs a traceback at WARNING each time it looks for Google credentials and finds none
  (an emulator or a public bucket needs none); the answer is the same either way."""
  logger = logging.getLogger('apache_beam.internal.gcp.auth')
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def objects_under(folder: str) -> List[str]:
  """Every object below `folder` (recursively), as full URIs; [] when none or no bucket."""
  pattern = folder.rstrip('/') + '/**'
  try:
    with _quiet_auth():
      result = _filesystems().match([pattern])[0]
  except Exception as e:  # Beam wraps every file-system error in BeamIOError
    if _not_found(e):
      return []
    raise BucketError(f'cannot list the folder: {_innermost(e)}') from e
  return sorted(m.path for m in result.metadata_list)


def names(folder: str) -> List[str]:
  """The names directly in `folder`: objects and the first part of deeper prefixes."""
  prefix = folder.rstrip('/') + '/'
  return sorted({path[len(prefix):].split('/', 1)[0] for path in objects_under(folder)
                 if path.startswith(prefix) and len(path) > len(prefix)})


def is_folder(uri: str) -> bool:
  return bool(objects_under(uri))


def is_object(uri: str) -> bool:
  try:
    with _quiet_auth():
      return _filesystems().exists(uri)
  except Exception as e:
    if _not_found(e):
      return False
    raise BucketError(f'cannot look up the object: {_innermost(e)}') from e


def read_bytes(uri: str) -> bytes:
  from apache_beam.io.filesystem import CompressionTypes
  try:
    with _quiet_auth():
      # UNCOMPRESSED: Beam would otherwise decompress by file extension.
      with _filesystems().open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()
  except Exception as e:
    raise BucketError(f'cannot read the object: {_innermost(e)}') from e


def stamp(uri: str) -> Tuple[int, int]:
  """(size in bytes, last update in ns) of one object."""
  try:
    with _quiet_auth():
      metadata = _filesystems().match([uri])[0].metadata_list
  except Exception as e:
    raise BucketError(f'cannot look up the object: {_innermost(e)}') from e
  if not metadata:
    raise BucketError('cannot look up the object: no such object')
  return int(metadata[0].size_in_bytes), int(metadata[0].last_updated_in_seconds * 1e9)
