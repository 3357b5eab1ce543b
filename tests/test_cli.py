"""The command line: help, data commands, commands that read a run home, and exit code 2
with a clear message on bad input."""
import json
import os
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from recfusion import cli


@pytest.fixture
def runner():
  return CliRunner(mix_stderr=False)


@pytest.mark.parametrize('command', [
    [], ['run'], ['data'], ['data', 'generate'], ['data', 'check'], ['predict'], ['compile'],
    ['submit'], ['schedule'], ['schedule', 'create'], ['schedule', 'list'],
    ['schedule', 'delete'], ['runs'], ['report'], ['lineage']])
def test_every_command_has_help(runner, command):
  result = runner.invoke(cli.main, command + ['--help'])
  assert result.exit_code == 0
  assert 'Usage:' in result.output


def test_generate_then_check(runner, tmp_path):
  out = str(tmp_path / 'shop')
  result = runner.invoke(cli.main, ['data', 'generate', '--out', out, '--days', '2',
                                    '--requests-per-day', '20', '--items', '40',
                                    '--format', 'csv'])
  assert result.exit_code == 0, result.stderr
  assert 'wrote 40 items' in result.stderr
  assert os.path.exists(os.path.join(out, 'events', 'span-1', 'events.csv'))
  result = runner.invoke(cli.main, ['data', 'check', out])
  assert result.exit_code == 0, result.stderr
  assert 'ok: 2 spans' in result.stderr


def test_generate_refuses_a_non_empty_folder(runner, handmade_dir):
  result = runner.invoke(cli.main, ['data', 'generate', '--out', handmade_dir])
  assert result.exit_code == 2
  assert 'is not empty' in result.stderr


def test_bad_usage_exits_2(runner):
  assert runner.invoke(cli.main, ['run', '--no-such-flag']).exit_code == 2
  result = runner.invoke(cli.main, ['run', '--set', 'data.nope=1'])
  assert result.exit_code == 2
  assert "unknown config key 'data.nope'" in result.stderr


def test_run_on_an_empty_data_folder_exits_2_before_running(runner, tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  result = runner.invoke(cli.main, ['run', '--home', str(tmp_path / 'home'),
                                    '--data', str(empty)])
  assert result.exit_code == 2
  assert f'error: {empty}: data directory is empty' in result.stderr.replace('\n', '')
  assert not (tmp_path / 'home' / 'metadata.sqlite').exists()


def test_run_with_an_unknown_item_exits_2_naming_file_row_and_column(
    runner, handmade_dir, table_writer, tmp_path):
  bad = table_writer(os.path.join(handmade_dir, 'events/span-2/late.parquet'), pd.DataFrame({
      'request_id': ['r9'], 'timestamp': [1767225600], 'item_id': ['ghost'], 'event': ['click']}))
  result = runner.invoke(cli.main, ['run', '--home', str(tmp_path / 'home'),
                                    '--data', handmade_dir])
  assert result.exit_code == 2
  assert (f"{bad}, row 1, column 'item_id': item 'ghost' is not in the catalog"
          in result.stderr.replace('\n', ''))


@pytest.fixture
def one_run_home(tmp_path):
  from recfusion.runs.runs_test import write_one_run
  home = str(tmp_path / 'home')
  os.makedirs(home)
  write_one_run(home)
  return home


def test_runs_lists_the_run_as_json_and_as_a_table(runner, one_run_home):
  result = runner.invoke(cli.main, ['runs', '--home', one_run_home, '--json'])
  assert result.exit_code == 0, result.stderr
  (row,) = [json.loads(line) for line in result.stdout.splitlines()]
  assert (row['run_id'], row['blessed'], row['pushed_version']) == ('run-1', True, '3')
  table = runner.invoke(cli.main, ['runs', '--home', one_run_home])
  assert table.exit_code == 0, table.stderr
  assert re.search(r'│ run-1 +│ [0-9-]+ [0-9:]+ +│ +\d+ +│ complete +│ 1 cached, 4 complete +│ '
                   r'- +│ yes +│ 3 +│', table.stdout)


def test_lineage_of_a_registry_version(runner, one_run_home):
  result = runner.invoke(cli.main, ['lineage', '3', '--home', one_run_home])
  assert result.exit_code == 0, result.stderr
  assert 'PushedModel from RegistryPusher [complete] pushed_version=3' in result.stdout
  assert 'from LogJoinExampleGen [complete] spans=0,1' in result.stdout
  missing = runner.invoke(cli.main, ['lineage', '9', '--home', one_run_home])
  assert missing.exit_code == 2
  assert 'no version 9 in the registry' in missing.stderr


def test_report_without_an_evaluated_run_exits_2(runner, one_run_home, tmp_path):
  result = runner.invoke(cli.main, ['report', '--home', one_run_home, '--format', 'text'])
  assert result.exit_code == 2
  assert (f'error: {os.path.join(one_run_home, "metadata.sqlite")}: no run with an evaluation '
          'yet' in result.stderr.replace('\n', ''))
  named = runner.invoke(cli.main, ['report', '--home', one_run_home, '--run', 'run-1'])
  assert named.exit_code == 2
  assert 'run run-1 has no Evaluator result' in named.stderr.replace('\n', '')
  empty = runner.invoke(cli.main, ['runs', '--home', str(tmp_path / 'nowhere')])
  assert empty.exit_code == 2
  assert ('metadata.sqlite: no ML Metadata here; run `recfusion run` first or pass --home'
          in empty.stderr.replace('\n', ''))


def test_predict_rejects_a_registry_version_that_is_not_a_saved_model(runner, one_run_home,
                                                                     tmp_path):
  requests = tmp_path / 'requests.jsonl'
  requests.write_text('{"candidates": ["a"]}\n')
  result = runner.invoke(cli.main, ['predict', '--home', one_run_home, '--model', '3',
                                    '--input', str(requests)])
  assert result.exit_code == 2
  assert 'not a SavedModel (no saved_model.pb)' in result.stderr.replace('\n', '')
  missing = runner.invoke(cli.main, ['predict', '--home', one_run_home, '--model', '8',
                                     '--input', str(requests)])
  assert missing.exit_code == 2
  assert "no pushed model '8' in the registry" in missing.stderr.replace('\n', '')


def test_closing_summary_of_a_run_is_the_report_text_and_is_kept_as_json(one_run_home, capsys):
  from recfusion.cli import run as run_commands
  from recfusion.cli.common import run_home
  from recfusion.config import load_config
  from recfusion.pipeline.local_runner import LocalRun
  run_dir = os.path.join(one_run_home, 'runs', 'run-1')
  os.remove(os.path.join(run_dir, 'summary.json'))  # the hand-made home's; written again here
  run_commands._print_summary(load_config(), run_home(one_run_home),
                              LocalRun('run-1', run_dir, {'Fusion': 2.5}, None), 12.4)
  lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
  assert lines[0] == 'BLESSED: pushed as registry version 3  (run run-1)'
  assert 'data: spans [0, 1], 30 requests, examples train 90, validation 30, eval 30' in lines
  pushed = os.path.join(one_run_home, 'registry', 'recfusion', '3')
  assert lines[-2] == f'pushed version 3: {pushed}'
  assert lines[-1] == f'wall time 12 s; summary and full log: {run_dir}/'
  with open(os.path.join(run_dir, 'summary.json')) as f:
    saved = json.load(f)
  assert saved['wall_seconds'] == 12.4 and saved['push']['version'] == '3'
  assert {c['name']: c['seconds'] for c in saved['components']}['Fusion'] == 2.5


def test_a_corrupt_registry_index_is_one_line_naming_the_file_and_exit_1(runner, tmp_path):
  home = tmp_path / 'home'
  directory = home / 'registry' / 'recfusion'
  (directory / '1').mkdir(parents=True)
  (directory / 'index.json').write_text('{"versions": [')
  requests = tmp_path / 'requests.jsonl'
  requests.write_text('{"request_id": "r", "candidates": [{"item_id": "a"}]}\n')
  result = runner.invoke(cli.main, ['predict', '--home', str(home), '--input', str(requests)])
  assert result.exit_code == 1
  assert f'{directory / "index.json"} is not a valid registry index' in result.stderr
  assert 'Traceback' not in result.stderr


def test_markup_in_an_error_message_prints_as_itself(runner, tmp_path):
  out = tmp_path / 'data'
  runner.invoke(cli.main, ['data', 'generate', '--out', str(out), '--days', '1',
                           '--requests-per-day', '5', '--items', '20', '--users', '5'])
  events = out / 'events' / 'span-0' / 'events.parquet'
  import pandas as pd
  frame = pd.read_parquet(events)
  frame.loc[0, 'event'] = '[/]'
  frame.to_parquet(events, index=False)
  result = runner.invoke(cli.main, ['data', 'check', str(out)])
  assert result.exit_code == 2
  assert '[/]' in result.stderr and 'MarkupError' not in result.stderr


@pytest.mark.parametrize('signal_name, raised', [('SIGTERM', 'terminated'),
                                                  ('SIGINT', KeyboardInterrupt)])
def test_a_stop_signal_swallowed_by_a_finalizer_still_stops_the_run_at_the_next_step(
    signal_name, raised):
  import signal
  import sys
  import types
  from recfusion.cli import run as run_commands
  raised = run_commands._Terminated if raised == 'terminated' else raised
  seen = []
  callback = run_commands.stopping_on_signal(seen.append)
  run_commands._STOPPED_BY.clear()
  callback('first')

  class Finalized:
    def __del__(self):
      run_commands._raise_stopped(getattr(signal, signal_name), None)

  reported = []
  previous_hook = sys.unraisablehook
  sys.unraisablehook = run_commands.quiet_when_stopped(reported.append)
  try:
    # Python hands an exception raised in __del__ to sys.unraisablehook and goes on, as when
    # the garbage collector runs the finalizer while the signal arrives.
    Finalized()
    with pytest.raises(raised):
      callback('second')
    with pytest.raises(raised):  # and at every event after, until the run has stopped
      callback('third')
    try:
      raise ValueError('another finalizer failed')
    except ValueError as e:
      other = types.SimpleNamespace(exc_value=e)
    sys.unraisablehook(other)
  finally:
    sys.unraisablehook = previous_hook
    run_commands._STOPPED_BY.clear()
  assert seen == ['first']
  assert reported == [other]  # only what is not the swallowed stop is reported


def test_a_keyboard_interrupt_in_a_finalizer_without_a_signal_is_still_reported():
  import sys
  import types
  from recfusion.cli import run as run_commands
  run_commands._STOPPED_BY.clear()
  reported = []
  hook = run_commands.quiet_when_stopped(reported.append)
  unraisable = types.SimpleNamespace(exc_value=KeyboardInterrupt())
  hook(unraisable)
  assert reported == [unraisable]


@pytest.mark.pipeline
@pytest.mark.parametrize('signal_name, exit_code', [('SIGTERM', 143), ('SIGINT', 130)])
def test_a_stop_signal_ends_a_run_with_a_message_and_its_exit_code_and_runs_calls_it_abandoned(
    small_shop_dir, tmp_path, signal_name, exit_code):
  import signal
  import subprocess
  import sys
  import time
  home = tmp_path / 'home'
  recfusion = os.path.join(os.path.dirname(sys.executable), 'recfusion')
  run = subprocess.Popen([recfusion, 'run', '--home', str(home), '--data', small_shop_dir],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.monotonic() + 300
  # Once a component has started, MLMD has a run in state running.
  while time.monotonic() < deadline and not list(home.glob('pipeline_root/*/.system')):
    time.sleep(0.5)
  assert run.poll() is None, run.communicate()
  run.send_signal(getattr(signal, signal_name))
  _, stderr = run.communicate(timeout=120)
  assert run.returncode == exit_code, stderr
  assert f'stopped by {signal_name}' in stderr and 'Traceback' not in stderr
  listed = subprocess.run([recfusion, 'runs', '--home', str(home), '--json'],
                          capture_output=True, text=True, check=True)
  statuses = [json.loads(line)['status'] for line in listed.stdout.splitlines()]
  assert statuses == ['abandoned'], listed.stdout


def test_run_without_its_pseudonymization_key_exits_2_before_running(runner, handmade_dir,
                                                                     tmp_path, monkeypatch):
  monkeypatch.delenv('SHOP_USER_KEY', raising=False)
  result = runner.invoke(cli.main, ['run', '--home', str(tmp_path / 'home'), '--data',
                                    handmade_dir, '--set',
                                    'data.pseudonymize_user_ids=env:SHOP_USER_KEY'])
  assert result.exit_code == 2
  assert ('data.pseudonymize_user_ids: environment variable SHOP_USER_KEY is not set'
          in result.stderr.replace('\n', ''))
  assert not (tmp_path / 'home' / 'metadata.sqlite').exists()


def test_run_progress_shows_position_epoch_and_clocks_and_prints_finished_lines():
  from recfusion.cli import run as run_commands
  from recfusion.pipeline.local_runner import ProgressEvent
  from rich.console import Console
  from rich.text import Text
  now = [100.0]
  output = Console(record=True, width=120, force_terminal=False)
  display = run_commands.RunProgress(started=100.0, clock=lambda: now[0], output=output)
  assert display.description().startswith('importing TFX … 00:00')
  now[0] = 130.0
  display.on_event(ProgressEvent('Trainer.dcn', 'running', 7, 14))
  now[0] = 171.0
  display.on_event(ProgressEvent('Trainer.dcn', 'epoch', 7, 14, detail='epoch 2/3'))
  assert Text.from_markup(display.description()).plain == \
      '[ 7/14] Trainer.dcn epoch 2/3 … 00:41 (run 01:11)'
  display.on_event(ProgressEvent('Trainer.dcn', 'finished', 7, 14, seconds=41.04))
  display.on_event(ProgressEvent('Fusion', 'failed', 8, 14))
  printed = output.export_text().splitlines()
  assert printed == [f'  ✔ [ 7/14] {"Trainer.dcn":<22}   41.0 s', '  ✘ [ 8/14] Fusion failed']


def test_the_closing_summary_says_where_the_report_and_the_tensorboard_logs_are():
  from recfusion.cli import run as run_commands
  from recfusion.runs.summary import ComponentRecord, RunSummary
  record = RunSummary(run_id='r', components=[
      ComponentRecord('Trainer.text', 'complete', 1.0, {'model_run': ['/p/Trainer.text/model_run/4']}),
      ComponentRecord('Trainer.dcn', 'cached', None, {'model_run': ['/p/Trainer.dcn/model_run/2']}),
      ComponentRecord('RunReport', 'complete', 1.0, {'report': ['/p/RunReport/report/9']})])
  assert run_commands.locations(record) == [
      'report: /p/RunReport/report/9/report.html',
      'TensorBoard: tensorboard --logdir_spec dcn:/p/Trainer.dcn/model_run/2,'
      'text:/p/Trainer.text/model_run/4']
  assert run_commands.locations(RunSummary(run_id='r')) == []


def test_quick_runs_train_briefly_on_small_data_in_their_own_home(runner, tmp_path,
                                                                   monkeypatch):
  from recfusion.cli import run as run_commands
  seen = {}

  def fake_run(config, run_home, data_dir, run_id, enable_cache, fail_if_not_blessed=False):
    seen.update(config=config, home=run_home.root, data_dir=data_dir)
    return 0

  monkeypatch.setattr(run_commands, '_run', fake_run)
  home = tmp_path / 'home'
  result = runner.invoke(cli.main, ['run', '--quick', '--home', str(home),
                                    '--set', 'trainers.dcn.epochs=2'])
  assert result.exit_code == 0, result.stderr
  config = seen['config']
  assert seen['home'] == str(home / 'quick')
  assert seen['data_dir'].startswith(str(home / 'quick'))  # generated there, small
  assert (config.generate.num_days, config.generate.requests_per_day) == (4, 600)
  # Enough eval requests for the gate to judge the model at all.
  eval_requests = (config.generate.requests_per_day * config.data.window_spans
                   * config.data.split.fractions['eval'])
  assert eval_requests >= 1.2 * config.evaluation.min_eval_requests
  assert config.data.window_spans == 3 and config.fusion.grid_step == 0.25
  # One epoch everywhere but where --set said otherwise; the forest gets 30 trees.
  assert {name: h.get('epochs', h.get('num_trees')) for name, h in config.trainers.items()} == {
      'text': 1, 'dcn': 2, 'sequence': 1, 'gbt': 30}
  # Every quick model from scratch: a fair comparison with the last quick model, and a change
  # to one ranker leaves the other Trainers cached.
  assert {name: h.get('warm_start') for name, h in config.trainers.items()} == {
      'text': False, 'dcn': False, 'sequence': False, 'gbt': None}
  assert 'quick run (--quick)' in result.stderr
  assert not (home / 'registry').exists() and not (home / 'metadata.sqlite').exists()


def test_report_of_a_finished_run_reads_its_saved_report_without_tensorflow(one_run_home):
  import subprocess
  import sys
  from recfusion.report import data as report_data
  from recfusion.runs.summary import RunSummary
  saved = report_data.ReportData(
      run=RunSummary(run_id='run-1', push={'pushed': True, 'version': '3', 'path': '/r/3'}),
      blessed=True, slices={'overall': {'ndcg@10': 0.71, 'requests': 30.0}})
  report_data.save(saved, os.path.join(one_run_home, 'runs', 'run-1'))
  recfusion = os.path.join(os.path.dirname(sys.executable), 'recfusion')
  done = subprocess.run([sys.executable, '-X', 'importtime', recfusion, 'report', '--format',
                         'text', '--run', 'run-1', '--home', one_run_home],
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stdout.splitlines()[0].startswith('BLESSED: pushed as registry version 3')
  imported = {line.rsplit('|', 1)[-1].strip() for line in done.stderr.splitlines()
              if line.startswith('import time:')}
  assert 'recfusion.report.text' in imported  # the import log is read right
  assert not {'tensorflow', 'tensorflow_model_analysis', 'tfx'} & imported


def _python(code: str) -> str:
  import subprocess
  import sys
  done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        timeout=120, check=True)
  return done.stdout


def test_the_command_line_leaves_its_objects_out_of_the_exit_collection():
  # Garbage left at exit is what shutdown's collection finds; frozen, it is not walked (and
  # its finalizers are not run: the process is ending).
  code = '''
import recfusion.cli
{prepare}
class Cycle:
  def __del__(self):
    print('collected at exit')
cycle = Cycle()
cycle.itself = cycle
del cycle
'''
  assert _python(code.format(prepare='')) == 'collected at exit\n'  # importing changes nothing
  assert _python(code.format(prepare='recfusion.cli.prepare_process()')) == ''


def test_every_command_prepares_its_process(runner, monkeypatch):
  prepared = []
  monkeypatch.setattr(cli, 'prepare_process', lambda: prepared.append(True))
  result = runner.invoke(cli.main, ['data', 'generate', '--help'])
  assert result.exit_code == 0 and prepared == [True]


def test_jsonschema_still_validates_without_its_iri_format_grammar():
  out = _python('''
import sys
import recfusion.cli
recfusion.cli.prepare_process()
import jsonschema
jsonschema.validate({"a": 1}, {"type": "object", "properties": {"a": {"type": "integer"}}})
try:
  jsonschema.validate({"a": "x"}, {"type": "object", "properties": {"a": {"type": "integer"}}})
except jsonschema.ValidationError:
  print("refused")
print(sys.modules["rfc3987_syntax"])
''')
  assert out == 'refused\nNone\n'
