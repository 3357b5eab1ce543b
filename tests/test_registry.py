"""Unit tests of the model registry: versions, index, atomic appearance, the lock, and the
repairs and refusals after interrupted or concurrent pushes."""
import concurrent.futures
import json
import multiprocessing
import os
import shutil
import re

import pytest

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
  # Nothing but whole-number versions and the index is visible to a server (the lock is hidden).
  assert sorted(n for n in os.listdir(directory) if not n.startswith('.')) == [
      '1', '2', 'index.json']


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
  # The failed push cleans its partial copy up itself.
  assert not [n for n in os.listdir(directory) if n.startswith(registry.INCOMING_PREFIX)]


def test_latest_skips_versions_whose_folder_is_gone(tmp_path):
  directory = str(tmp_path / 'registry')
  registry.push(directory, _model(tmp_path))
  registry.push(directory, _model(tmp_path, 'b'))
  os.rename(os.path.join(directory, '2'), os.path.join(directory, '.removed'))
  assert registry.latest(directory).version == 1


def _push_from_another_process(directory, model_dir, run_id):
  return registry.push(directory, model_dir, run_id=run_id).version


def test_concurrent_pushes_get_consecutive_versions_and_all_are_indexed(tmp_path):
  directory = str(tmp_path / 'registry')
  model = _model(tmp_path)
  context = multiprocessing.get_context('fork')
  with concurrent.futures.ProcessPoolExecutor(4, mp_context=context) as pool:
    versions = list(pool.map(_push_from_another_process, [directory] * 20, [model] * 20,
                             [f'run-{i}' for i in range(20)]))
  assert sorted(versions) == list(range(1, 21))
  records = registry.read_index(directory)
  assert [r.version for r in records] == list(range(1, 21))
  assert sorted(r.run_id for r in records) == sorted(f'run-{i}' for i in range(20))
  assert registry.version_folders(directory) == list(range(1, 21))


def test_a_push_killed_between_rename_and_index_is_recovered_by_the_next(tmp_path):
  directory = str(tmp_path / 'registry')
  registry.push(directory, _model(tmp_path), run_id='run-1')
  # What a push killed after its rename leaves: folder 2 in place, index [1].
  os.makedirs(os.path.join(directory, '2'))
  assert registry.latest(directory).version == 1
  third = registry.push(directory, _model(tmp_path, 'c'), run_id='run-3')
  assert third.version == 3
  records = {r.version: r for r in registry.read_index(directory)}
  assert sorted(records) == [1, 2, 3]
  assert 'interrupted after its rename' in records[2].extra['recovered']
  assert third.extra['repairs'] == [
      'added version 2 to index.json: its folder was in place (a server may already serve '
      'it) but its push was interrupted before the index']


def test_a_partial_copy_of_a_killed_push_is_removed_under_the_lock(tmp_path):
  directory = str(tmp_path / 'registry')
  os.makedirs(os.path.join(directory, '.incoming-1-999999', 'variables'))
  record = registry.push(directory, _model(tmp_path))
  assert record.version == 1
  assert record.extra['repairs'] == [
      'removed .incoming-1-999999, the partial copy of an interrupted push']
  assert sorted(os.listdir(directory)) == ['.registry.lock', '1', 'index.json']


def test_a_corrupt_index_is_an_error_naming_the_file_and_nothing_is_pushed(tmp_path):
  directory = str(tmp_path / 'registry')
  registry.push(directory, _model(tmp_path))
  index = os.path.join(directory, registry.INDEX_FILE)
  with open(index, 'w') as f:
    f.write('{"versions": [{"vers')
  with pytest.raises(registry.RegistryError, match=f'{index} is not a valid registry index'):
    registry.latest(directory)
  with pytest.raises(registry.RegistryError, match='Nothing was pushed'):
    registry.push(directory, _model(tmp_path, 'b'))
  assert registry.version_folders(directory) == [1]


def test_a_missing_index_beside_versions_is_an_error_not_an_empty_registry(tmp_path):
  directory = str(tmp_path / 'registry')
  registry.push(directory, _model(tmp_path))
  registry.push(directory, _model(tmp_path, 'b'))
  os.remove(os.path.join(directory, registry.INDEX_FILE))
  with pytest.raises(registry.RegistryError, match=r'index.json is missing but version '
                                                   r'folder\(s\) 1, 2 exist'):
    registry.latest(directory)


def test_a_push_evaluated_against_a_version_that_is_no_longer_latest_is_refused(tmp_path):
  directory = str(tmp_path / 'registry')
  registry.push(directory, _model(tmp_path))
  registry.push(directory, _model(tmp_path, 'b'))  # another run pushed meanwhile
  candidate = _model(tmp_path, 'c')
  with pytest.raises(registry.RegistryError, match='now version 2, not 1'):
    registry.push(directory, candidate, expected_latest=1)
  with pytest.raises(registry.RegistryError, match='now version 2, not None'):
    registry.push(directory, candidate, expected_latest=None)
  assert registry.version_folders(directory) == [1, 2]
  assert registry.push(directory, candidate, expected_latest=2).version == 3


def test_a_push_waits_for_the_lock_and_gives_up_with_a_timeout(tmp_path):
  directory = str(tmp_path / 'registry')
  with registry.lock(directory):
    with pytest.raises(registry.filelock.Timeout):
      registry.push(directory, _model(tmp_path), lock_timeout=0.2)
  assert registry.push(directory, _model(tmp_path, 'b')).version == 1


def _three_versions(tmp_path):
  directory = str(tmp_path / 'registry')
  for i in (1, 2, 3):
    model = tmp_path / f'model{i}'
    model.mkdir()
    (model / 'saved_model.pb').write_text(f'model {i}')
    registry.push(directory, str(model), run_id=f'run-{i}', spans=[i],
                  metrics={'ndcg@10': 0.5 + i / 100},
                  extra={'inputs_digest': f'd{i}',
                         'serving': {'size_mb': 10.0 + i, 'latency_ms_p50': 2.25 * i}})
  return directory


def test_rollback_serves_an_earlier_version_again_as_the_next_one(tmp_path):
  directory = _three_versions(tmp_path)
  record = registry.rollback(directory, 1)
  assert record.version == 4
  latest = registry.latest(directory)
  assert (latest.version, latest.run_id, latest.spans, latest.metrics) == (
      4, 'run-1', [1], {'ndcg@10': 0.51})
  assert latest.extra['rollback_of'] == 1 and latest.extra['inputs_digest'] == 'd1'
  with open(os.path.join(directory, '4', 'saved_model.pb')) as f:
    assert f.read() == 'model 1'
  with pytest.raises(LookupError, match=r'no version 9 to roll back to \(versions: 1, 2, 3, 4\)'):
    registry.rollback(directory, 9)


def test_pin_serves_a_version_and_refuses_pushes_until_unpinned(tmp_path):
  directory = _three_versions(tmp_path)
  served, pin = registry.pin(directory, 2, reason='bad release')
  # Version 2 is not the newest folder: a copy of it is, so TF Serving serves it.
  assert (served.version, served.extra['rollback_of'], pin.version) == (4, 2, 4)
  assert registry.read_pin(directory) == pin and pin.reason == 'bad release'
  with open(os.path.join(directory, '4', 'saved_model.pb')) as f:
    assert f.read() == 'model 2'
  with pytest.raises(registry.RegistryPinned, match='pinned to version 4 .*bad release'):
    registry.push(directory, _model(tmp_path))
  with pytest.raises(registry.RegistryPinned, match='pin 1` moves the pin'):
    registry.rollback(directory, 1)
  assert registry.version_folders(directory) == [1, 2, 3, 4]
  # Pinning the newest version copies nothing; the pin survives any index rewrite.
  served, pin = registry.pin(directory, 4)
  assert served.version == 4 and registry.version_folders(directory) == [1, 2, 3, 4]
  assert registry.prune(directory, keep=1) == [1, 2, 3]
  assert registry.read_pin(directory).version == 4
  with pytest.raises(LookupError, match='no version 9 to pin'):
    registry.pin(directory, 9)
  assert registry.unpin(directory).version == 4
  assert registry.read_pin(directory) is None and registry.unpin(directory) is None
  assert registry.push(directory, _model(tmp_path, 'after')).version == 5


def test_prune_never_removes_the_pinned_version(tmp_path):
  directory = _three_versions(tmp_path)
  registry.pin(directory, 3)
  # A folder a push left above the pin (its index write was interrupted): reconciled in.
  shutil.copytree(os.path.join(directory, '3'), os.path.join(directory, '4'))
  assert registry.prune(directory, keep=1) == [1, 2]
  assert registry.version_folders(directory) == [3, 4]


def test_prune_keeps_the_newest_versions_and_never_the_latest(tmp_path):
  directory = _three_versions(tmp_path)
  assert registry.prune(directory, keep=2) == [1]
  assert [r.version for r in registry.read_index(directory)] == [2, 3]
  assert registry.version_folders(directory) == [2, 3]
  assert registry.prune(directory, keep=5) == []
  with pytest.raises(ValueError, match='keep must be at least 1'):
    registry.prune(directory, keep=0)
  # The next push still counts on from the highest version ever seen in the index.
  assert registry.push(directory, _model(tmp_path)).version == 4


def test_registry_commands_list_roll_back_and_prune(tmp_path):
  from click.testing import CliRunner
  from recfusion import cli
  home = tmp_path / 'home'
  directory = _three_versions(tmp_path)
  os.makedirs(home / 'registry')
  os.rename(directory, home / 'registry' / 'recfusion')
  runner = CliRunner(mix_stderr=False)
  listed = runner.invoke(cli.main, ['registry', 'list', '--home', str(home), '--json'])
  assert listed.exit_code == 0, listed.stderr
  assert [json.loads(line)['version'] for line in listed.stdout.splitlines()] == [3, 2, 1]
  table = runner.invoke(cli.main, ['registry', 'list', '--home', str(home)])
  assert 'in production' in table.stdout and '0.5300' in table.stdout
  # Size and median latency of version 3, as its push measured them.
  assert re.search(r'│ 3 .*│ 13\.0 +│ 6\.8 +│ in production', table.stdout), table.stdout
  rolled = runner.invoke(cli.main, ['registry', 'rollback', '2', '--home', str(home)])
  assert rolled.exit_code == 0 and 'version 4 is version 2 again' in rolled.stdout
  missing = runner.invoke(cli.main, ['registry', 'rollback', '7', '--home', str(home)])
  assert missing.exit_code == 2 and 'no version 7' in missing.stderr
  pruned = runner.invoke(cli.main, ['registry', 'prune', '--keep', '1', '--home', str(home)])
  assert pruned.exit_code == 0 and 'removed version(s) 1, 2, 3' in pruned.stdout


def test_models_pin_and_unpin_commands(tmp_path):
  from click.testing import CliRunner
  from recfusion import cli
  home = tmp_path / 'home'
  directory = _three_versions(tmp_path)
  os.makedirs(home / 'registry')
  os.rename(directory, home / 'registry' / 'recfusion')
  runner = CliRunner(mix_stderr=False)
  pinned = runner.invoke(cli.main, ['models', 'pin', '1', '--reason', 'v2 breaks search',
                                    '--home', str(home)])
  assert pinned.exit_code == 0, pinned.stderr
  assert pinned.stdout.startswith('pinned: version 4 (a copy of version 1) is in production')
  table = runner.invoke(cli.main, ['models', 'list', '--home', str(home)])
  assert re.search(r'│ 4 .*│ in production, rollback of 1, pinned +│', table.stdout), table.stdout
  assert 'pinned to version 4' in table.stdout and 'v2 breaks search' in table.stdout
  rows = [json.loads(line) for line in runner.invoke(
      cli.main, ['models', 'list', '--home', str(home), '--json']).stdout.splitlines()]
  assert [(r['version'], r['pinned']) for r in rows] == [
      (4, True), (3, False), (2, False), (1, False)]
  refused = runner.invoke(cli.main, ['models', 'rollback', '2', '--home', str(home)])
  assert refused.exit_code == 1 and 'moves the pin' in refused.stderr
  unpinned = runner.invoke(cli.main, ['registry', 'unpin', '--home', str(home)])
  assert unpinned.exit_code == 0 and 'unpinned version 4' in unpinned.stdout
  again = runner.invoke(cli.main, ['registry', 'unpin', '--home', str(home)])
  assert again.exit_code == 0 and 'not pinned' in again.stdout
