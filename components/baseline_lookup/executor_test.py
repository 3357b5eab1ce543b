"""Component tests: BaselineLookup's executor against an empty and a populated registry."""
import os

from tfx.types import standard_artifacts

from recfusion import keys, registry
from recfusion.components.baseline_lookup import executor


def _lookup(tmp_path, directory):
  artifact = standard_artifacts.Model()
  artifact.uri = str(tmp_path / 'baseline')
  os.makedirs(artifact.uri)
  executor.Executor().Do({}, {'baseline_model': [artifact]}, {'registry_dir': directory})
  return artifact


def test_empty_registry_reports_no_baseline(tmp_path):
  artifact = _lookup(tmp_path, str(tmp_path / 'registry'))
  assert not keys.baseline_found(artifact)
  assert os.listdir(artifact.uri) == []


def test_latest_version_becomes_the_baseline(tmp_path):
  directory = str(tmp_path / 'registry')
  for name in ('old', 'new'):
    model = tmp_path / name
    model.mkdir()
    (model / 'saved_model.pb').write_text(name)
    registry.push(directory, str(model))
  artifact = _lookup(tmp_path, directory)
  assert keys.baseline_found(artifact)
  assert artifact.get_int_custom_property(keys.BASELINE_VERSION) == 2
  with open(os.path.join(artifact.uri, 'Format-Serving', 'saved_model.pb')) as f:
    assert f.read() == 'new'
