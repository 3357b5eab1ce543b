"""The model registry (docs/architecture.md §7): `<push_dir>/<pipeline>/<version>/` plus `index.json`.

Versions are whole numbers, as TF Serving expects. A version is copied under a hidden temporary
name and renamed into place, so a server watching the folder never sees half a model (TF Serving
ignores names that are not numbers). `index.json` is rewritten through a temporary file and an
atomic rename for the same reason. The index is the registry's record of what each version is:
run id, data spans, headline metrics, time of push.

Pushes are serialized by a file lock held across choosing the version, copying, renaming and
writing the index, so two pipelines pushing at once get consecutive versions and an index that
lists both. Under that lock a push first reconciles the folder with the index: copies left by a
killed push (`.incoming-*`) are removed, and a version folder that is missing from the index
(a push killed between its rename and its index write) is added to the index, marked
recovered, because a server watching the folder may already serve it. A missing or unreadable
index beside version folders is an error naming the file: never "no model in production".

A version can be pinned (`pin`): it is made the newest folder, so TF Serving serves it, and
pushes are refused until `unpin`, so production stays on it however many runs are blessed
meanwhile. The pin lives in the index beside the versions.
"""
import dataclasses
import datetime
import json
import os
import shutil
from typing import Any, Dict, List, Optional, Tuple

import filelock

INDEX_FILE = 'index.json'
LOCK_FILE = '.registry.lock'
INCOMING_PREFIX = '.incoming-'
LOCK_TIMEOUT_S = 600.0


class RegistryError(RuntimeError):
  """The registry's folders and index disagree in a way no push can repair safely, or the
  model in production changed while a candidate was being evaluated against it."""


class RegistryPinned(RegistryError):
  """An operator pinned production to a version; nothing is pushed until it is unpinned."""


@dataclasses.dataclass
class Pin:
  version: int
  pinned_at: str
  reason: str = ''

  def describe(self, directory: str) -> str:
    return (f'{directory} is pinned to version {self.version} since {self.pinned_at}'
            + (f' ({self.reason})' if self.reason else '')
            + ': nothing is pushed until `recfusion registry unpin`')


@dataclasses.dataclass
class VersionRecord:
  version: int
  path: str
  run_id: str = ''
  spans: List[int] = dataclasses.field(default_factory=list)
  metrics: Dict[str, float] = dataclasses.field(default_factory=dict)
  pushed_at: str = ''
  extra: Dict[str, Any] = dataclasses.field(default_factory=dict)


def registry_dir(push_dir: str, pipeline_name: str) -> str:
  return os.path.join(push_dir, pipeline_name)


def version_folders(directory: str) -> List[int]:
  """The whole-number folders: what a server watching the registry can load."""
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory)
                if name.isdigit() and os.path.isdir(os.path.join(directory, name)))


def _read_document(directory: str) -> Tuple[List[VersionRecord], Optional[Pin]]:
  path = os.path.join(directory, INDEX_FILE)
  if not os.path.exists(path):
    folders = version_folders(directory)
    if folders:
      raise RegistryError(
          f'{path} is missing but version folder(s) {", ".join(map(str, folders))} exist: '
          'the registry cannot tell which model is in production. Restore the index from a '
          'backup, or move the version folders aside to start a new registry.')
    return [], None
  try:
    with open(path, encoding='utf-8') as f:
      document = json.load(f)
    records = [VersionRecord(**{**entry,
                                'path': os.path.join(directory, str(entry['version']))})
               for entry in document['versions']]
    pin = Pin(**document['pinned']) if document.get('pinned') else None
    return records, pin
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise RegistryError(f'{path} is not a valid registry index ({type(e).__name__}: {e}); '
                        'restore it from a backup. Nothing was pushed.') from e


def read_index(directory: str) -> List[VersionRecord]:
  return _read_document(directory)[0]


def read_pin(directory: str) -> Optional[Pin]:
  """The operator's pin, or None when pushes go live as usual."""
  return _read_document(directory)[1]


def latest(directory: str) -> Optional[VersionRecord]:
  """The newest version in the index whose folder exists, or None for an empty registry."""
  return _newest(read_index(directory))


def _newest(records: List[VersionRecord]) -> Optional[VersionRecord]:
  present = [r for r in records if os.path.isdir(r.path)]
  return max(present, key=lambda r: r.version) if present else None


def find(directory: str, version: int) -> Optional[VersionRecord]:
  return next((r for r in read_index(directory) if r.version == version), None)


_KEEP_PIN = object()


def _write_index(directory: str, records: List[VersionRecord], pin: Any = _KEEP_PIN) -> None:
  """Writes the index; the pin stays as it is unless one (or None, to lift it) is given."""
  if pin is _KEEP_PIN:
    pin = _read_document(directory)[1]
  entries = []
  for record in sorted(records, key=lambda r: r.version):
    entry = dataclasses.asdict(record)
    entry.pop('path')
    entries.append(entry)
  temporary = os.path.join(directory, f'.{INDEX_FILE}.{os.getpid()}')
  with open(temporary, 'w') as f:
    json.dump({'versions': entries, **({'pinned': dataclasses.asdict(pin)} if pin else {})},
              f, indent=2, sort_keys=True)
  os.replace(temporary, os.path.join(directory, INDEX_FILE))


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def lock(directory: str, timeout: float = LOCK_TIMEOUT_S) -> filelock.FileLock:
  """The registry's lock: held by every push (and by anything else that writes the folder)."""
  os.makedirs(directory, exist_ok=True)
  return filelock.FileLock(os.path.join(directory, LOCK_FILE), timeout=timeout)


def reconcile(directory: str) -> List[str]:
  """Repairs what an interrupted push left behind; returns what it did, in words.

  Call with the lock held: an `.incoming-*` copy is only stale when no push is running.
  """
  done = []
  for name in sorted(os.listdir(directory)):
    if name.startswith(INCOMING_PREFIX):
      shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
      done.append(f'removed {name}, the partial copy of an interrupted push')
  records = read_index(directory)
  indexed = {r.version for r in records}
  orphans = [v for v in version_folders(directory) if v not in indexed]
  if orphans:
    for version in orphans:
      records.append(VersionRecord(
          version=version, path=os.path.join(directory, str(version)), pushed_at=_now(),
          extra={'recovered': 'folder found without an index entry: a push was interrupted '
                              'after its rename; run, spans and metrics unknown'}))
      done.append(f'added version {version} to {INDEX_FILE}: its folder was in place (a '
                  'server may already serve it) but its push was interrupted before the index')
    _write_index(directory, records)
  return done


def push(directory: str, model_dir: str, run_id: str = '', spans: Optional[List[int]] = None,
         metrics: Optional[Dict[str, float]] = None,
         extra: Optional[Dict[str, Any]] = None,
         expected_latest: Optional[int] = -1,
         lock_timeout: float = LOCK_TIMEOUT_S) -> VersionRecord:
  """Copies `model_dir` in as the next version and records it in the index.

  `expected_latest`: the version the candidate was evaluated against (None: an empty
  registry); if the registry's latest is another one by now, the gate's comparison is stale and
  nothing is pushed (RegistryError). -1 skips the check. A pinned registry refuses
  (RegistryPinned).
  """
  with lock(directory, lock_timeout):
    repairs = reconcile(directory)
    records, pin = _read_document(directory)
    if pin is not None:
      raise RegistryPinned(pin.describe(directory))
    current = _newest(records)
    current_version = current.version if current else None
    if expected_latest != -1 and current_version != expected_latest:
      raise RegistryError(
          f'{directory}: the model in production is now version {current_version}, not '
          f'{expected_latest} that this candidate was evaluated against (another run pushed '
          'meanwhile); nothing pushed. Run again to evaluate against the new model.')
    return _copy_in(directory, model_dir, VersionRecord(
        version=0, path='', run_id=run_id, spans=list(spans or []),
        metrics=dict(metrics or {}),
        extra={**(extra or {}), **({'repairs': repairs} if repairs else {})}), records, pin)


def _copy_in(directory: str, model_dir: str, record: VersionRecord,
             records: List[VersionRecord], pin: Optional[Pin]) -> VersionRecord:
  """Copies a model in as the next version after `records`, keeping `pin`; call with the
  lock held and the index as read under it."""
  version = max(version_folders(directory) + [r.version for r in records] + [0]) + 1
  temporary = os.path.join(directory, f'{INCOMING_PREFIX}{version}-{os.getpid()}')
  shutil.rmtree(temporary, ignore_errors=True)
  try:
    shutil.copytree(model_dir, temporary)
  except BaseException:
    shutil.rmtree(temporary, ignore_errors=True)
    raise
  final = os.path.join(directory, str(version))
  os.rename(temporary, final)
  record = dataclasses.replace(record, version=version, path=final, pushed_at=_now())
  _write_index(directory, records + [record], pin=pin)
  return record


def _copy_of(source: VersionRecord) -> VersionRecord:
  """What a copy of `source` as a new version records: its run, data and metrics."""
  extra = {k: v for k, v in source.extra.items() if k not in ('repairs', 'rollback_of')}
  return VersionRecord(version=0, path='', run_id=source.run_id, spans=list(source.spans),
                       metrics=dict(source.metrics),
                       extra={**extra, 'rollback_of': source.version})


def _existing(directory: str, records: List[VersionRecord], version: int,
              purpose: str) -> VersionRecord:
  source = next((r for r in records if r.version == version), None)
  if source is None or not os.path.isdir(source.path):
    present = ', '.join(str(r.version) for r in records) or 'none'
    raise LookupError(f'{directory}: no version {version} {purpose} (versions: {present})')
  return source


def rollback(directory: str, version: int, lock_timeout: float = LOCK_TIMEOUT_S
             ) -> VersionRecord:
  """Puts `version` back in production by pushing a copy of it as the next version.

  A new, higher version rather than deleting newer ones: TF Serving serves the highest version
  it finds, a folder it already loaded is never removed under it, and the index keeps the whole
  history (`extra.rollback_of`). Refused while pinned: `pin` moves a pin.
  """
  with lock(directory, lock_timeout):
    reconcile(directory)
    records, pin = _read_document(directory)
    source = _existing(directory, records, version, 'to roll back to')
    if pin is not None:
      raise RegistryPinned(f'{pin.describe(directory)}; `recfusion registry pin {version}` '
                           'moves the pin instead')
    return _copy_in(directory, source.path, _copy_of(source), records, pin)


def pin(directory: str, version: int, reason: str = '',
        lock_timeout: float = LOCK_TIMEOUT_S) -> Tuple[VersionRecord, Pin]:
  """Serves `version` and keeps serving it: when it is not the newest folder, a copy of it
  becomes the next version (as `rollback`), all under one lock, and the pin names the version
  in production. Returns that record and the pin."""
  with lock(directory, lock_timeout):
    reconcile(directory)
    records, pin = _read_document(directory)
    source = _existing(directory, records, version, 'to pin')
    current = _newest(records)
    if current is None or current.version != source.version:
      served = _copy_in(directory, source.path, _copy_of(source), records, pin)
      records = records + [served]
    else:
      served = source
    new_pin = Pin(version=served.version, pinned_at=_now(), reason=reason)
    _write_index(directory, records, pin=new_pin)
    return served, new_pin


def unpin(directory: str, lock_timeout: float = LOCK_TIMEOUT_S) -> Optional[Pin]:
  """Lets pushes go live again; returns the pin that was lifted (None: there was none)."""
  with lock(directory, lock_timeout):
    records, previous = _read_document(directory)
    if previous is not None:
      _write_index(directory, records, pin=None)
    return previous


def prune(directory: str, keep: int, lock_timeout: float = LOCK_TIMEOUT_S) -> List[int]:
  """Removes all but the `keep` newest versions (folders and index entries); the latest is
  always kept. Returns the versions removed, oldest first."""
  if keep < 1:
    raise ValueError('keep must be at least 1: the latest version is the one in production')
  with lock(directory, lock_timeout):
    reconcile(directory)
    records, pinned = _read_document(directory)
    records = sorted(records, key=lambda r: r.version)
    removed = records[:-keep] if len(records) > keep else []
    # The pinned version is what an operator chose to serve: never pruned.
    removed = [r for r in removed if pinned is None or r.version != pinned.version]
    # Index first: a crash after it leaves unindexed folders, which are only removed below
    # (reconcile would re-add them with `recovered`, and a rerun removes them again).
    kept = [r for r in records if r not in removed]
    _write_index(directory, kept, pin=pinned)
    for record in removed:
      shutil.rmtree(record.path, ignore_errors=True)
  return [r.version for r in removed]
