"""Unit tests of the local runner: "nothing new", and the progress it reports."""
import logging

from recfusion import fingerprints
from recfusion.pipeline import local_runner


def _home_with_production_version(tmp_path, config, data_dir, digest):
  from recfusion import keys, registry
  from recfusion.home import RunHome
  home = RunHome(str(tmp_path / 'home'))
  model = tmp_path / 'model'
  model.mkdir()
  (model / 'saved_model.pb').write_text('fused')
  registry.push(home.registry_dir(config), str(model), run_id='run-1',
                extra={keys.INPUTS_DIGEST: digest})
  return home


def test_the_production_model_is_unchanged_only_for_the_same_data_config_and_code(
    handmade_dir, tmp_path, table_writer):
  import pandas as pd
  from recfusion.config import load_config
  config = load_config()
  home = _home_with_production_version(
      tmp_path, config, handmade_dir, fingerprints.inputs_digest(handmade_dir, config.to_yaml()))
  assert local_runner.unchanged_since(config, home, handmade_dir).version == 1
  # Another config: a model trained differently.
  other = load_config(overrides=['trainers.dcn.epochs=1'])
  assert local_runner.unchanged_since(other, home, handmade_dir) is None
  # A rotated secret is no new model (secrets are redacted before the digest).
  secret = load_config(overrides=['beam.extra_args=["--s3_secret_access_key=one"]'])
  rotated = load_config(overrides=['beam.extra_args=["--s3_secret_access_key=two"]'])
  assert (fingerprints.inputs_digest(handmade_dir, secret.to_yaml()) ==
          fingerprints.inputs_digest(handmade_dir, rotated.to_yaml()))
  # A new span: new data.
  table_writer(f'{handmade_dir}/events/span-3/events.csv', pd.DataFrame({
      'request_id': ['r9'], 'timestamp': [1767225600], 'item_id': ['a'], 'event': ['click']}))
  assert local_runner.unchanged_since(config, home, handmade_dir) is None


def test_run_with_nothing_new_exits_0_in_seconds_without_a_run(handmade_dir, tmp_path):
  from click.testing import CliRunner
  from recfusion import cli
  from recfusion.config import load_config
  config = load_config()
  home = _home_with_production_version(
      tmp_path, config, handmade_dir, fingerprints.inputs_digest(handmade_dir, config.to_yaml()))
  result = CliRunner(mix_stderr=False).invoke(
      cli.main, ['run', '--home', home.root, '--data', handmade_dir])
  assert result.exit_code == 0, result.stderr + result.stdout
  assert 'nothing new since registry version 1 (run run-1)' in result.stdout.replace('\n', ' ')
  assert not (tmp_path / 'home' / 'runs').exists()


def _record(message: str) -> logging.LogRecord:
  return logging.LogRecord('absl', logging.INFO, __file__, 1, message, None, None)


def test_progress_events_count_components_and_carry_the_trainers_epochs(monkeypatch):
  clock = iter([10.0, 12.5, 20.0, 61.0])
  monkeypatch.setattr(local_runner.time, 'monotonic', lambda: next(clock))
  events = []
  handler = local_runner._ComponentProgress(events.append, total=14)
  for message in ['Component Transform is running.', 'Component Transform is finished.',
                  'Component Trainer.dcn is running.',
                  'dcn epoch 2/3: auc 0.7000, loss 0.4000',
                  'Trainer.dcn: some other line with epoch 2/3: in it',
                  'unrelated line']:
    handler.emit(_record(message))
  handler.finish_current()  # the last component's 'finished' line may never come
  P = local_runner.ProgressEvent
  assert events == [P('Transform', 'running', 1, 14), P('Transform', 'finished', 1, 14, 2.5),
                    P('Trainer.dcn', 'running', 2, 14),
                    P('Trainer.dcn', 'epoch', 2, 14, detail='epoch 2/3'),
                    P('Trainer.dcn', 'finished', 2, 14, 41.0)]
  assert handler.durations == {'Transform': 2.5, 'Trainer.dcn': 41.0}
  assert handler.fail_current() is None


def test_a_failed_component_is_reported_once_as_failed(monkeypatch):
  monkeypatch.setattr(local_runner.time, 'monotonic', lambda: 0.0)
  events = []
  handler = local_runner._ComponentProgress(events.append, total=3)
  handler.emit(_record('Component Fusion is running.'))
  assert handler.fail_current() == 'Fusion'
  assert [(e.component, e.event, e.index) for e in events] == [
      ('Fusion', 'running', 1), ('Fusion', 'failed', 1)]
  handler.finish_current()  # nothing is running any more: no 'finished' after 'failed'
  assert len(events) == 2


def test_memory_is_released_when_a_component_starts_before_progress_hears_of_it(monkeypatch):
  order = []
  monkeypatch.setattr(local_runner.memory, 'release_freed', lambda: order.append('release'))
  callback = local_runner.releasing_memory(lambda event: order.append(event.event))
  for event in ('running', 'epoch', 'finished', 'running', 'failed'):
    callback(local_runner.ProgressEvent('Fusion', event, 1, 2))
  assert order == ['release', 'running', 'epoch', 'finished', 'release', 'running', 'failed']


def test_beam_args_name_the_pickler_and_runner_mode_before_the_extra_args():
  from recfusion.config import load_config
  config = load_config(overrides=['beam.pickle_library=dill',
                                  'beam.extra_args=["--pickle_library=cloudpickle"]'])
  # Beam reads the last occurrence: a user's extra arg wins over the section's settings.
  assert local_runner.beam_args(config) == [
      '--pickle_library=dill', '--direct_running_mode=in_memory', '--direct_num_workers=1',
      '--pickle_library=cloudpickle']
