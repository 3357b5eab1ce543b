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
"""
import dataclasses
import datetime
import json
import os
import shutil
from typing import Any, Dict, List, Optional

import filelock

INDEX_FILE = 'index.json'
LOCK_FILE = '.registry.lock'
INCOMING_PREFIX = '.incoming-'
LOCK_TIMEOUT_S = 600.0


class RegistryError(RuntimeError):
  """The registry's folders and index disagree in a way no push can repair safely, or the
  model in production changed while a candidate was being evaluated against it."""


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


def read_index(directory: str) -> List[VersionRecord]:
  path = os.path.join(directory, INDEX_FILE)
  if not os.path.exists(path):
    folders = version_folders(directory)
    if folders:
      raise RegistryError(
          f'{path} is missing but version folder(s) {", ".join(map(str, folders))} exist: '
          'the registry cannot tell which model is in production. Restore the index from a '
          'backup, or move the version folders aside to start a new registry.')
    return []
  try:
    with open(path, encoding='utf-8') as f:
      entries = json.load(f)['versions']
    return [VersionRecord(**{**entry, 'path': os.path.join(directory, str(entry['version']))})
            for entry in entries]
  except (ValueError, KeyError, TypeError) as e:
    raise RegistryError(f'{path} is not a valid registry index ({type(e).__name__}: {e}); '
                        'restore it from a backup. Nothing was pushed.') from e


def latest(directory: str) -> Optional[VersionRecord]:
  """The newest version in the index whose folder exists, or None for an empty registry."""
  records = [r for r in read_index(directory) if os.path.isdir(r.path)]
  return max(records, key=lambda r: r.version) if records else None


def find(directory: str, version: int) -> Optional[VersionRecord]:
  return next((r for r in read_index(directory) if r.version == version), None)


def _write_index(directory: str, records: List[VersionRecord]) -> None:
  entries = []
  for record in sorted(records, key=lambda r: r.version):
    entry = dataclasses.asdict(record)
    entry.pop('path')
    entries.append(entry)
  temporary = os.path.join(directory, f'.{INDEX_FILE}.{os.getpid()}')
  with open(temporary, 'w') as f:
    json.dump({'versions': entries}, f, indent=2, sort_keys=True)
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
  nothing is pushed (RegistryError). -1 skips the check.
  """
  with lock(directory, lock_timeout):
    repairs = reconcile(directory)
    current = latest(directory)
    current_version = current.version if current else None
    if expected_latest != -1 and current_version != expected_latest:
      raise RegistryError(
          f'{directory}: the model in production is now version {current_version}, not '
          f'{expected_latest} that this candidate was evaluated against (another run pushed '
          'meanwhile); nothing pushed. Run again to evaluate against the new model.')
    records = read_index(directory)
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
    record = VersionRecord(
        version=version, path=final, run_id=run_id, spans=list(spans or []),
        metrics=dict(metrics or {}), extra={**(extra or {}),
                                            **({'repairs': repairs} if repairs else {})},
        pushed_at=_now())
    _write_index(directory, records + [record])
    return record


def rollback(directory: str, version: int, lock_timeout: float = LOCK_TIMEOUT_S
             ) -> VersionRecord:
  """Puts `version` back in production by pushing a copy of it as the next version.

  A new, higher version rather than deleting newer ones: TF Serving serves the highest version
  it finds, a folder it already loaded is never removed under it, and the index keeps the whole
  history (`extra.rollback_of`).
  """
  source = find(directory, version)
  if source is None or not os.path.isdir(source.path):
    present = ', '.join(str(r.version) for r in read_index(directory)) or 'none'
    raise LookupError(f'{directory}: no version {version} to roll back to (versions: {present})')
  extra = {k: v for k, v in source.extra.items() if k not in ('repairs', 'rollback_of')}
  return push(directory, source.path, run_id=source.run_id, spans=source.spans,
              metrics=source.metrics, extra={**extra, 'rollback_of': version},
              lock_timeout=lock_timeout)


def prune(directory: str, keep: int, lock_timeout: float = LOCK_TIMEOUT_S) -> List[int]:
  """Removes all but the `keep` newest versions (folders and index entries); the latest is
  always kept. Returns the versions removed, oldest first."""
  if keep < 1:
    raise ValueError('keep must be at least 1: the latest version is the one in production')
  with lock(directory, lock_timeout):
    reconcile(directory)
    records = sorted(read_index(directory), key=lambda r: r.version)
    removed = records[:-keep] if len(records) > keep else []
    # Index first: a crash after it leaves unindexed folders, which are only removed below
    # (reconcile would re-add them with `recovered`, and a rerun removes them again).
    _write_index(directory, records[len(removed):])
    for record in removed:
      shutil.rmtree(record.path, ignore_errors=True)
  return [r.version for r in removed]
