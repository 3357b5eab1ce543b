"""The command line: help, data commands, and exit code 2 with a clear message on bad input."""
import os

import pandas as pd
import pytest
from click.testing import CliRunner

from recfusion import cli


@pytest.fixture
def runner():
  return CliRunner(mix_stderr=False)


@pytest.mark.parametrize('command', [[], ['run'], ['data'], ['data', 'generate'],
                                     ['data', 'check']])
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
      'request_id': ['r9'], 'timestamp': [500], 'item_id': ['ghost'], 'event': ['click']}))
  result = runner.invoke(cli.main, ['run', '--home', str(tmp_path / 'home'),
                                    '--data', handmade_dir])
  assert result.exit_code == 2
  assert (f"{bad}, row 1, column 'item_id': item 'ghost' is not in the catalog"
          in result.stderr.replace('\n', ''))
