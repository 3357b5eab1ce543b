"""End to end: `recfusion run` builds and runs the DAG on small data, twice (second is cached)."""
import glob
import json
import os

import pytest
from click.testing import CliRunner

from recfusion import cli

pytestmark = pytest.mark.pipeline

COMPONENTS = ['ImportSchemaGen', 'LogJoinExampleGen', 'StatisticsGen', 'ExampleValidator',
              'Transform']


def _summary(home):
  runs = sorted(glob.glob(os.path.join(home, 'runs', '*', 'summary.json')), key=os.path.getmtime)
  with open(runs[-1]) as f:
    return json.load(f), os.path.dirname(runs[-1])


@pytest.fixture(scope='module')
def first_run(small_shop_dir, tmp_path_factory):
  home = str(tmp_path_factory.mktemp('home'))
  result = CliRunner(mix_stderr=False).invoke(
      cli.main, ['run', '--home', home, '--data', small_shop_dir, '--set', 'data.window_spans=4'])
  assert result.exit_code == 0, result.stderr + result.stdout + repr(result.exception)
  return home, result


def test_every_component_completes_and_the_summary_is_printed(first_run):
  home, result = first_run
  summary, run_dir = _summary(home)
  assert {c['name']: c['state'] for c in summary['components']} == {
      name: 'complete' for name in COMPONENTS}
  assert 'examples train' in result.stdout
  for name in COMPONENTS:
    assert f'✔ {name}' in result.stderr
  with open(os.path.join(run_dir, 'config.yaml')) as f:
    assert 'window_spans: 4' in f.read()


def test_transform_wrote_a_graph_and_transformed_splits(first_run):
  home, _ = first_run
  summary, _ = _summary(home)
  transform = next(c for c in summary['components'] if c['name'] == 'Transform')
  graph = transform['outputs']['transform_graph'][0]
  assert os.path.isdir(os.path.join(graph, 'transform_fn'))
  with open(os.path.join(graph, 'transformed_metadata', 'schema.pbtxt')) as f:
    schema = f.read()
  assert 'query_title_overlap' in schema and 'position' not in schema
  transformed = transform['outputs']['transformed_examples'][0]
  for split in ('train', 'validation', 'eval'):
    assert glob.glob(os.path.join(transformed, f'Split-{split}', '*.gz'))


def test_join_report_reaches_the_summary(first_run):
  home, _ = first_run
  report = _summary(home)[0]['join_report']
  assert report['spans'] == [0, 1, 2, 3]
  assert report['examples_train'] > report['examples_eval'] > 0
  assert report['requests_without_impressions'] > 0


def test_second_run_reuses_cached_results(first_run, small_shop_dir):
  home, _ = first_run
  result = CliRunner(mix_stderr=False).invoke(
      cli.main, ['run', '--home', home, '--data', small_shop_dir, '--set', 'data.window_spans=4'])
  assert result.exit_code == 0, result.stderr
  summary, _ = _summary(home)
  states = {c['name']: c['state'] for c in summary['components']}
  assert states['LogJoinExampleGen'] == 'cached'
  assert states['Transform'] == 'cached'
