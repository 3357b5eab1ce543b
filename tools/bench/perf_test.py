"""bench-perf's arithmetic and bookkeeping, on made-up measurements (the bench itself runs the
DAG and is `make bench-perf`)."""
import json
import os
import types

import pytest
import yaml

from tools.bench import perf, perf_dag, perf_serving

JOIN = {'examples_train': 700, 'examples_validation': 150, 'examples_eval': 150,
        'examples_without_engagement_eval': 120}


def _event(component, event, seconds=None):
  return types.SimpleNamespace(component=component, event=event, seconds=seconds)


def test_the_meter_starts_a_new_peak_for_each_component():
  peaks = iter([900.0, 1500.04])
  resets = []
  meter = perf_dag.ComponentMeter(read_peak=lambda: next(peaks),
                                  reset=lambda: resets.append(1))
  for event in (_event('A', 'running'), _event('A', 'epoch'), _event('A', 'finished', 2.345),
                _event('B', 'running'), _event('B', 'failed')):
    meter(event)
  assert len(resets) == 2
  assert meter.components == [
      {'name': 'A', 'seconds': 2.35, 'peak_rss_mb': 900.0, 'failed': False},
      {'name': 'B', 'seconds': 0, 'peak_rss_mb': 1500.0, 'failed': True}]


def test_the_whole_runs_peak_is_its_largest_components_not_the_last_resets():
  components = [{'name': 'Evaluator', 'peak_rss_mb': 1e7}, {'name': 'RunReport', 'peak_rss_mb': 9.0}]
  assert perf_dag.whole_run_peak_mb(components) == 1e7
  # With no component above it, the process's own peak (imports included) stands.
  assert perf_dag.whole_run_peak_mb([{'name': 'A', 'peak_rss_mb': 1.0}]) > 1.0


def test_this_processes_peak_can_be_reset():
  perf_dag.reset_peak_rss()
  before = perf_dag.peak_rss_mb()
  block = bytearray(64 * 1024 * 1024)
  block[::4096] = b'x' * len(block[::4096])  # touch every page: resident, not just reserved
  assert perf_dag.peak_rss_mb() >= before + 60
  del block
  perf_dag.reset_peak_rss()
  assert perf_dag.peak_rss_mb() < before + 30


@pytest.mark.parametrize('component, models, expected', [
    ('LogJoinExampleGen', 1, 100.0),  # 1000 examples in 10 s
    ('Transform', 1, 100.0),
    ('Trainer.dcn', 1, 70.0),  # the train split
    ('Fusion', 1, 15.0),  # validation
    ('Evaluator', 2, 30.0),  # eval x (candidate + production)
    ('SchemaGen', 1, None),  # no examples of its own
])
def test_examples_per_second_counts_what_each_component_works_through(component, models,
                                                                        expected):
  assert perf.examples_per_second(component, 10.0, JOIN, models) == expected


def _dag(baseline=None):
  return {'join_report': JOIN, 'baseline_version': baseline, 'components': [
      {'name': 'LogJoinExampleGen', 'seconds': 10.0, 'peak_rss_mb': 500.0, 'state': 'complete'},
      {'name': 'SchemaGen', 'seconds': 2.0, 'peak_rss_mb': 510.0, 'state': 'complete'},
      {'name': 'Evaluator', 'seconds': 5.0, 'peak_rss_mb': 900.0, 'state': 'complete'}]}


def test_rows_and_totals_compare_the_dag_with_its_floor():
  rows = perf.component_rows(_dag(baseline=3), {'LogJoinExampleGen': {'seconds': 2.5},
                                                'Evaluator': {'seconds': 1.0}})
  assert [(r['component'], r['floor_seconds'], r['ratio'], r['examples_per_s']) for r in rows] == [
      ('LogJoinExampleGen', 2.5, 4.0, 100.0), ('SchemaGen', None, None, None),
      ('Evaluator', 1.0, 5.0, 60.0)]
  assert perf.totals(rows, wall=21.0) == {
      'floor_seconds': 3.5, 'dag_seconds_with_floor': 15.0, 'ratio_with_floor': 4.29,
      'wall_seconds': 21.0, 'wall_ratio': 6.0, 'seconds_without_floor': 2.0}


def test_projection_is_a_fixed_cost_plus_a_cost_per_example():
  # 10 s fixed + 1 s per x: 11 s at 1x, 20 s at 10x, 110 s at 100x. A step that shrank
  # between 1x and 10x is not projected below its 10x value.
  assert perf.project({'A': 11.0, 'B': 5.0, 'only-1x': 1.0}, {'A': 20.0, 'B': 4.0}, 10, 100) == {
      'A': 110.0, 'B': 4.0}


def _result(**extra):
  scale = lambda wall, rss, rate: {
      'wall_seconds': wall, 'peak_rss_mb': rss, 'examples': {'examples_eval': 10},
      'totals': {'wall_ratio': wall / 40, 'ratio_with_floor': 1.5, 'floor_seconds': 40.0},
      'dag_components': ['Trainer.a', 'Trainer.b', 'Evaluator'],
      'components': [{'component': 'Evaluator', 'seconds': 1.0, 'floor_seconds': None,
                      'ratio': None, 'peak_rss_mb': rss, 'examples_per_s': rate}]}
  return {'scales': {'1': scale(100.0, 2000.0, 1200.0), '10': scale(900.0, 5000.0, 4000.0)},
          **extra}


def test_targets_say_which_are_met():
  result = _result(
      serving={'fused': {'p50_ms': 4.0}, 'p50_ratio': 0.7},
      nothing_new={'seconds': 12.0, 'said': True},
      new_span={'trainers_executed': 2},
      quick={'seconds': 95.0, 'exit': 0},
      quick_change={'seconds': 47.0, 'exit': 0, 'change': 'trainers.dcn.learning_rate=0.004'},
      cli={'runs': {'seconds': 1.2, 'exit': 0}, 'report_text': {'seconds': 2.5, 'exit': 0},
           'lineage': {'seconds': 0.9, 'exit': 1}, 'runs_in_home': 3})
  met = {c['target']: c['met'] for c in perf.targets(result)}
  assert met == {
      'DAG at 1x <= 3x the floor': True,  # 100 / 40
      'Evaluator >= 1,000 examples/s per model at 1x': True,
      'DAG at 10x <= 2x the floor': False,  # 900 / 40
      'Evaluator >= 5,000 examples/s per model at 10x': False,
      'peak RSS at 10x <= 4 GiB': False,
      '10x data <= 8x the 1x time': False,  # 9x
      'fused p50 <= 5 ms for 100 candidates': True,
      'fused p50 <= 0.6x the members called separately': False,
      'nothing new: <= 20 s, nothing trained or pushed': True,
      'one new span: each Trainer runs once': True,
      '`run --quick` cold, the first in its home: about a minute (<= 60 s)': False,
      '`run --quick` again after a config change (trainers.dcn.learning_rate=0.004): about a '
      'minute (<= 60 s)': True,
      '`runs` <= 2 s (3 runs in the home)': True,
      '`report_text` <= 2 s (3 runs in the home)': False,
      '`lineage` <= 2 s (3 runs in the home)': False,  # it failed
  }
  table = perf.markdown({**result, 'targets': perf.targets(result)})
  assert '| 10x data <= 8x the 1x time | 9.0 | **no** |' in table
  assert '| Evaluator | 1.0 | - | - | 2000 | 1,200.0 |' in table


def test_the_serving_target_names_the_thread_pools_it_was_measured_with():
  pools = {'inter_op': 2, 'intra_op': 1}
  measured = lambda p50: {'fused': {'p50_ms': p50, 'p99_ms': p50 * 2},
                          'separate': {'p50_ms': 10.0}, 'p50_ratio': p50 / 10}
  result = _result(serving={**measured(4.5), 'threads': pools,
                            'tensorflow_default_threads': measured(5.5)})
  checks = {c['target']: (c['measured'], c['met']) for c in perf.targets(result)}
  assert checks["fused p50 <= 5 ms for 100 candidates (TF Serving's threads as the Deployment "
                "sets them: inter-op 2, intra-op 1)"] == (4.5, True)
  table = perf.markdown({**result, 'targets': perf.targets(result)})
  assert "with TensorFlow's default pools fused 5.5 ms (p99 11.0)" in table


def test_serving_threads_come_from_the_deployment(tmp_path):
  assert set(perf_serving.deployment_threads()) == {'inter_op', 'intra_op'}
  manifest = tmp_path / 'serving.yaml'
  container = {'name': 'tf-serving', 'args': ['--port=8500',
                                              '--tensorflow_inter_op_parallelism=4',
                                              '--tensorflow_intra_op_parallelism=1']}
  deployment = {'kind': 'Deployment', 'spec': {'template': {'spec': {
      'containers': [container]}}}}
  manifest.write_text(yaml.safe_dump_all([{'kind': 'Service'}, deployment]))
  assert perf_serving.deployment_threads(str(manifest)) == {'inter_op': 4, 'intra_op': 1}
  container['args'] = container['args'][:2]
  manifest.write_text(yaml.safe_dump_all([deployment]))
  with pytest.raises(ValueError, match='sets no --tensorflow_intra_op_parallelism'):
    perf_serving.deployment_threads(str(manifest))


def test_serving_requests_wrap_around_the_examples_and_alternate_calls():
  assert perf_serving.batches([b'a', b'b', b'c'], 2, 3) == [[b'a', b'b'], [b'c', b'a'],
                                                          [b'b', b'c']]
  with pytest.raises(ValueError, match='no eval examples'):
    perf_serving.batches([], 2, 1)
  calls = []
  timed = perf_serving.alternate({'x': lambda r: calls.append(('x', r)),
                                  'y': lambda r: calls.append(('y', r))}, [1, 2, 3], warmup=1)
  assert calls == [('x', 1), ('y', 1), ('x', 2), ('y', 2), ('x', 3), ('y', 3)]
  assert set(timed) == {'x', 'y'} and set(timed['x']) == {'p50_ms', 'p99_ms'}
  assert perf_serving.percentiles([1.0, 2.0, 3.0]) == {'p50_ms': 2.0, 'p99_ms': 2.98}


def test_a_scale_multiplies_what_grows_with_a_shop():
  assert perf.scaled_overrides(['generate.num_items=50'], 10) == [
      'generate.num_items=50', 'generate.requests_per_day=8000', 'generate.num_items=500',
      'generate.num_users=5000']


def test_the_table_projects_to_100x_through_the_measured_scales():
  result = _result(projection={'seconds': {'Evaluator': 984.0}, 'peak_rss_mb': {'Evaluator': 900.0},
                               'target': 100, 'through': ['1x', '10x']})
  table = perf.markdown({**result, 'targets': []})
  assert '**100x projected** (a fixed cost plus a cost per example, through 1x and 10x):' in table
  assert '| Evaluator | 984 | 900 |' in table


def test_a_bench_cut_off_at_10x_leaves_the_1x_table_marked_incomplete(tmp_path, monkeypatch):
  one = _result()['scales']['1']

  def run_scale(root, scale, overrides, log):
    if scale == 10:
      raise MemoryError('killed at 10x')
    return dict(one)

  monkeypatch.setattr(perf, 'run_scale', run_scale)
  monkeypatch.setattr(perf, 'after_first_run', lambda measured, overrides, log: {
      'nothing_new': {'seconds': 12.0, 'said': True}})
  out = tmp_path / 'perf.json'
  with pytest.raises(MemoryError):
    perf.main(['--out', str(out), '--scales', '1', '10'])
  saved = json.loads(out.read_text())
  assert saved['complete'] is False
  assert list(saved['scales']) == ['1'] and saved['nothing_new']['seconds'] == 12.0
  table = (tmp_path / 'perf.md').read_text()
  assert table.startswith('**Incomplete**: written after ')
  assert '| nothing new: <= 20 s, nothing trained or pushed | 12.0 | yes |' in table


def test_the_beam_steps_rerun_sits_beside_their_in_memory_seconds(tmp_path, monkeypatch):
  ten = _result()['scales']['10']
  ten['home'] = str(tmp_path)
  seen = []

  def json_child(command, out):
    seen.append(command)
    return {'beam_args': ['--direct_running_mode=multi_processing', '--direct_num_workers=2'],
            'steps': [{'component': 'Evaluator', 'seconds': 0.6, 'peak_rss_mb': 700.0}],
            'workers_peak_rss_mb': 900.0}

  monkeypatch.setattr(perf, '_json_child', json_child)
  rerun = perf.beam_multi_processing(ten, log=lambda message: None)
  assert seen[0][-4:] == ['--home', str(tmp_path), '--out',
                          str(tmp_path / 'beam_multi_processing.json')]
  assert rerun['steps'][0]['in_memory_seconds'] == 1.0  # the DAG's Evaluator row
  ten['beam_multi_processing'] = rerun
  table = perf.markdown({'scales': {'10': ten}, 'targets': []})
  assert ('10x Beam steps re-run on the same inputs with `--direct_running_mode=multi_processing '
          '--direct_num_workers=2` (largest worker peak RSS 900.0 MB):') in table
  assert '| Evaluator | 1.0 | 0.6 | 700.0 |' in table


def test_the_history_is_filled_with_forced_runs_up_to_the_target_count(tmp_path):
  runs = tmp_path / 'runs'
  runs.mkdir()
  (runs / 'first').mkdir()

  def forced_run():
    (runs / f'run{len(list(runs.iterdir()))}').mkdir()
    return {'seconds': 1.0, 'exit': 0, 'tail': []}

  timings = perf.fill_history(str(tmp_path), forced_run, runs=4)
  assert len(timings) == 3 and len(list(runs.iterdir())) == 4
  assert perf.fill_history(str(tmp_path), forced_run, runs=4) == []


def test_a_forced_run_that_adds_no_run_stops_the_bench(tmp_path):
  (tmp_path / 'runs').mkdir()
  with pytest.raises(RuntimeError, match='added no run.*home is busy'):
    perf.fill_history(str(tmp_path), lambda: {'exit': 2, 'tail': ['home is busy']}, runs=2)


def test_the_quick_change_doubles_the_first_rankers_learning_rate():
  assert perf.quick_change(['trainers.text.learning_rate=0.003']) == (
      'trainers.text.learning_rate=0.006')


def test_quick_runs_use_the_quick_shop_not_the_scale_of_the_bench(tmp_path, monkeypatch):
  home, data_dir = tmp_path / 'home', tmp_path / 'home' / 'shop'
  (data_dir / 'events').mkdir(parents=True)
  (tmp_path / 'home' / 'shop.next-span').mkdir()
  commands = []

  def timed_command(command, expect='', timeout=0):
    commands.append(command)
    return {'seconds': 1.0, 'exit': 0, 'tail': [], 'said': True}

  monkeypatch.setattr(perf, 'timed_command', timed_command)
  monkeypatch.setattr(perf, '_json_child', lambda command, out: {})
  monkeypatch.setattr(perf, 'fill_history', lambda home, forced_run: [])
  monkeypatch.setattr(perf, '_latest_run_components', lambda home: {})
  monkeypatch.setattr(os, 'listdir', lambda path: ['run'])
  first = {'home': str(home), 'data_dir': str(data_dir), 'dag_file': 'dag.json',
           'overrides': ['data.window_spans=5', 'generate.requests_per_day=8000']}
  out = perf.after_first_run(first, ['data.window_spans=5'], lambda message: None)
  quick = [c for c in commands if '--quick' in c]
  assert len(quick) == 2
  assert all('generate.requests_per_day=8000' not in c for c in quick)
  assert quick[0][-2:] == ['--set', 'data.window_spans=5']
  assert quick[1][-2:] == ['--set', out['quick_change']['change']]
