"""The run home: one folder that holds everything local runs write (layout in
pipeline/local_runner.py's docstring).

Kept apart from the runner so that commands which only read a home (`runs`, `report`,
`lineage`, `predict`) find its files without importing the runner.
"""
import contextlib
import dataclasses
import json
import os

import filelock

from recfusion import registry
from recfusion.config import Config

RUN_LOCK_FILE = '.run.lock'
RUN_HOLDER_FILE = '.run.holder.json'


class HomeBusyError(RuntimeError):
  """Another run holds the home: two runs would share one metadata store and registry."""


@dataclasses.dataclass(frozen=True)
class RunHome:
  root: str

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.root, 'pipeline_root')

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.root, 'metadata.sqlite')

  def run_dir(self, run_id: str) -> str:
    return os.path.join(self.root, 'runs', run_id.replace(':', '-'))

  def generated_data_dir(self, key: str) -> str:
    return os.path.join(self.root, 'data', f'generated-{key}')

  def registry_dir(self, config: Config) -> str:
    push_root = config.push.dir or os.path.join(self.root, 'registry')
    return registry.registry_dir(os.path.abspath(push_root), config.pipeline.name)

  def _run_lock(self) -> filelock.FileLock:
    return filelock.FileLock(os.path.join(self.root, RUN_LOCK_FILE), timeout=0)

  def _holder(self) -> dict:
    """What the holding run wrote about itself ({} if it is unreadable or not written yet)."""
    try:
      with open(os.path.join(self.root, RUN_HOLDER_FILE), encoding='utf-8') as f:
        return json.load(f)
    except (OSError, ValueError):
      return {}

  def active_run_id(self):
    """The id of the run holding this home now ('' if it has not said), or None when no run
    is alive."""
    if not os.path.isdir(self.root):
      return None
    lock = self._run_lock()
    try:
      lock.acquire()
    except filelock.Timeout:
      return self._holder().get('run_id') or ''
    lock.release()
    return None

  @contextlib.contextmanager
  def exclusive_run(self, run_id: str):
    """Held for a whole local run: one run per home at a time. A second run is refused at
    once, naming the run that holds the home (the lock is the operating system's, so a run
    killed with -9 releases it)."""
    os.makedirs(self.root, exist_ok=True)
    lock = self._run_lock()
    holder_file = os.path.join(self.root, RUN_HOLDER_FILE)
    try:
      lock.acquire()
    except filelock.Timeout:
      holder = self._holder()
      who = (f"run {holder.get('run_id')} (pid {holder.get('pid')})" if holder
             else 'another run')
      raise HomeBusyError(f'{self.root} is in use by {who}: one run per home at a time. Wait '
                          'for it to finish, or pass another --home.') from None
    try:
      with open(holder_file, 'w', encoding='utf-8') as f:
        json.dump({'run_id': run_id, 'pid': os.getpid()}, f)
      yield
    finally:
      with contextlib.suppress(OSError):
        os.remove(holder_file)
      lock.release()
