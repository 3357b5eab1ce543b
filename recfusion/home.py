"""The run home: one folder that holds everything local runs write (layout in
pipeline/local_runner.py's docstring).

Kept apart from the runner so that commands which only read a home (`runs`, `report`,
`lineage`, `predict`) find its files without importing the runner.
"""
import dataclasses
import os

from recfusion import registry
from recfusion.config import Config


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
