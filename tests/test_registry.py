"""Unit tests of the model registry: versions, index, atomic appearance."""
import json
import os

from recfusion import registry


def _model(tmp_path, name='model'):
  folder = tmp_path / name
  folder.mkdir()
  (folder / 'saved_model.pb').write_text('fake')
  return str(folder)


def test_empty_registry_has_no_latest(tmp_path):
  assert registry.latest(str(tmp_path / 'nothing')) is None


def test_push_numbers_versions_and_records_them(tmp_path):
  directory = str(tmp_path / 'registry')
  first = registry.push(directory, _model(tmp_path), run_id='run-1', spans=[3, 4],
                        metrics={'ndcg@10': 0.5})
  second = registry.push(directory, _model(tmp_path, 'other'), run_id='run-2')
  assert (first.version, second.version) == (1, 2)
  assert registry.latest(directory).run_id == 'run-2'
  assert registry.find(directory, 1).metrics == {'ndcg@10': 0.5}
  assert registry.find(directory, 1).spans == [3, 4]
  assert os.path.exists(os.path.join(directory, '2', 'saved_model.pb'))
  with open(os.path.join(directory, registry.INDEX_FILE)) as f:
    assert [v['version'] for v in json.load(f)['versions']] == [1, 2]
  # Nothing but whole-number versions and the index is visible to a server.
  assert sorted(os.listdir(directory)) == ['1', '2', 'index.json']


def test_a_half_copied_version_never_takes_a_number(tmp_path, monkeypatch):
  directory = str(tmp_path / 'registry')
  registry.push(directory, _model(tmp_path))

  def failing_copy(source, destination):
    os.makedirs(destination)
    raise OSError('disk full')
  monkeypatch.setattr(registry.shutil, 'copytree', failing_copy)
  try:
    registry.push(directory, _model(tmp_path, 'second'))
  except OSError:
    pass
  assert [name for name in os.listdir(directory) if name.isdigit()] == ['1']
  assert registry.latest(directory).version == 1


def test_latest_skips_versions_whose_folder_is_gone(tmp_path):
  directory = str(tmp_path / 'registry')
  registry.push(directory, _model(tmp_path))
  registry.push(directory, _model(tmp_path, 'b'))
  os.rename(os.path.join(directory, '2'), os.path.join(directory, '.removed'))
  assert registry.latest(directory).version == 1
