"""The model registry (docs/architecture.md §7): `<push_dir>/<pipeline>/<version>/` plus `index.json`.

Versions are whole numbers, as TF Serving expects. A version is copied under a hidden temporary
name and renamed into place, so a server watching the folder never sees half a model (TF Serving
ignores names that are not numbers). `index.json` is rewritten through a temporary file and an
atomic rename for the same reason. The index is the registry's record of what each version is:
run id, data spans, headline metrics, time of push.
"""
import dataclasses
import datetime
import json
import os
import shutil
from typing import Any, Dict, List, Optional

INDEX_FILE = 'index.json'


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


def read_index(directory: str) -> List[VersionRecord]:
  path = os.path.join(directory, INDEX_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    entries = json.load(f).get('versions', [])
  return [VersionRecord(**{**entry, 'path': os.path.join(directory, str(entry['version']))})
          for entry in entries]


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


def push(directory: str, model_dir: str, run_id: str = '', spans: Optional[List[int]] = None,
         metrics: Optional[Dict[str, float]] = None,
         extra: Optional[Dict[str, Any]] = None) -> VersionRecord:
  """Copies `model_dir` in as the next version and records it in the index."""
  os.makedirs(directory, exist_ok=True)
  existing = [int(name) for name in os.listdir(directory) if name.isdigit()]
  version = max(existing + [r.version for r in read_index(directory)] + [0]) + 1
  temporary = os.path.join(directory, f'.incoming-{version}-{os.getpid()}')
  shutil.rmtree(temporary, ignore_errors=True)
  shutil.copytree(model_dir, temporary)
  final = os.path.join(directory, str(version))
  os.rename(temporary, final)
  record = VersionRecord(
      version=version, path=final, run_id=run_id, spans=list(spans or []),
      metrics=dict(metrics or {}), extra=dict(extra or {}),
      pushed_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))
  _write_index(directory, read_index(directory) + [record])
  return record
