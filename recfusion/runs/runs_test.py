"""Reading a run back from ML Metadata: summary, run list, default run, lineage, and the
closing summary of a run without an evaluation, on a store written by hand (no TFX run)."""
import json
import os
import re

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from recfusion import keys
from recfusion.runs import lineage, metadata, selection, summary

PIPELINE = 'recfusion'  # the default config's pipeline.name, so the CLI finds the run too
RUN_ID = 'run-1'
JOIN_REPORT = {'spans': [0, 1], 'requests': 30, 'examples_train': 90, 'examples_validation': 30,
               'examples_eval': 30, 'skipped_unknown_item_events': 4}
FUSION = {'method': 'weighted', 'weights': {'text': 1.0},
          'metrics': {'text': {'ndcg@10': 0.5}, 'fused': {'ndcg@10': 0.5}}}


def _artifact(store, type_name, uri, **properties):
  artifact = mlmd.Artifact(type_id=store.put_artifact_type(mlmd.ArtifactType(name=type_name)),
                           uri=uri, state=mlmd.Artifact.LIVE)
  for name, value in properties.items():
    if isinstance(value, int):
      artifact.custom_properties[name].int_value = value
    else:
      artifact.custom_properties[name].string_value = value
  artifact.id = store.put_artifacts([artifact])[0]
  return artifact


def write_one_run(home: str) -> dict:
  """A run home whose ML Metadata holds one run of five components (no Evaluator output, so
  nothing needs TFMA), and whose registry holds the version that run pushed. Returns the
  artifacts by output key."""
  registry_dir = os.path.join(home, 'registry', PIPELINE)
  os.makedirs(os.path.join(registry_dir, '3'))
  with open(os.path.join(registry_dir, 'index.json'), 'w') as f:
    json.dump({'versions': [{'version': 3, 'run_id': RUN_ID, 'spans': [0, 1]}]}, f)
  config = mlmd.ConnectionConfig()
  config.sqlite.filename_uri = os.path.join(home, 'metadata.sqlite')
  config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
  store = metadata_store.MetadataStore(config)
  run_type = store.put_context_type(mlmd.ContextType(name='pipeline_run'))
  node_type = store.put_context_type(mlmd.ContextType(name='node'))
  run = mlmd.Context(type_id=run_type, name=RUN_ID)
  run.id = store.put_contexts([run])[0]
  root = os.path.join(home, 'pipeline_root')
  outputs = {
      'examples': _artifact(store, 'Examples', f'{root}/LogJoinExampleGen/examples/1',
                            **{keys.SPANS: '0,1', keys.JOIN_REPORT: json.dumps(JOIN_REPORT)}),
      'baseline_model': _artifact(store, 'Model', f'{root}/BaselineLookup/baseline_model/2',
                                  **{keys.BASELINE_FOUND: 1, keys.BASELINE_VERSION: 2}),
      'model': _artifact(store, 'Model', f'{root}/Fusion/model/3',
                         **{keys.FUSION_METHOD: 'weighted'}),
      'fusion_report': _artifact(store, 'FusionReport', f'{root}/Fusion/fusion_report/3',
                                 **{keys.FUSION_REPORT: json.dumps(FUSION)}),
      'blessing': _artifact(store, 'ModelBlessing', f'{root}/Evaluator/blessing/4',
                            **{keys.BLESSED: 1}),
      'pushed_model': _artifact(store, 'PushedModel', f'{root}/RegistryPusher/pushed_model/5',
                                **{keys.PUSHED: 1, keys.PUSHED_VERSION: '3',
                                   keys.PUSHED_DESTINATION: os.path.join(registry_dir, '3')}),
  }
  execution_type = store.put_execution_type(mlmd.ExecutionType(name='Component'))
  steps = [('LogJoinExampleGen', mlmd.Execution.COMPLETE, [], ['examples']),
           ('BaselineLookup', mlmd.Execution.CACHED, [], ['baseline_model']),
           ('Fusion', mlmd.Execution.COMPLETE, ['examples', 'baseline_model'],
            ['model', 'fusion_report']),
           ('Evaluator', mlmd.Execution.COMPLETE, ['model', 'baseline_model'], ['blessing']),
           ('RegistryPusher', mlmd.Execution.COMPLETE, ['model', 'blessing'], ['pushed_model'])]
  for name, state, inputs, produced in steps:
    node = mlmd.Context(type_id=node_type, name=f'{PIPELINE}.{name}')
    node.id = store.put_contexts([node])[0]
    events = []
    for key in inputs + produced:
      event = mlmd.Event(type=mlmd.Event.INPUT if key in inputs else mlmd.Event.OUTPUT)
      event.path.steps.add().key = key
      events.append((outputs[key], event))
    store.put_execution(mlmd.Execution(type_id=execution_type, last_known_state=state),
                        artifact_and_events=events, contexts=[run, node])
  # What `recfusion run` keeps once the run has got to its end.
  run_dir = os.path.join(home, 'runs', RUN_ID)
  os.makedirs(run_dir, exist_ok=True)
  summary.save(summary.summarize_run(store, PIPELINE, RUN_ID), run_dir, wall_seconds=1.0)
  return outputs


@pytest.fixture
def home(tmp_path):
  write_one_run(str(tmp_path))
  return str(tmp_path)


def test_summary_reads_states_outputs_and_the_verdict(home):
  record = summary.summarize_run(os.path.join(home, 'metadata.sqlite'), PIPELINE, RUN_ID,
                                 {'Fusion': 2.5})
  assert [(c.name, c.state, c.seconds) for c in record.components] == [
      ('LogJoinExampleGen', 'complete', None), ('BaselineLookup', 'cached', None),
      ('Fusion', 'complete', 2.5), ('Evaluator', 'complete', None),
      ('RegistryPusher', 'complete', None)]
  assert record.join_report == JOIN_REPORT and record.fusion == FUSION
  assert record.evaluation == {'baseline_version': 2, 'blessed': True}
  assert (record.blessed, record.baseline_version) == (True, 2)
  assert record.push == {'pushed': True, 'version': '3',
                         'path': os.path.join(home, 'registry', PIPELINE, '3')}


def test_saved_summary_keeps_the_component_times(home, tmp_path):
  record = summary.summarize_run(os.path.join(home, 'metadata.sqlite'), PIPELINE, RUN_ID,
                                 {'Fusion': 2.5})
  summary.save(record, str(tmp_path), wall_seconds=9.0)
  assert summary.saved_durations(str(tmp_path))['Fusion'] == 2.5
  with open(tmp_path / 'summary.json') as f:
    assert json.load(f)['wall_seconds'] == 9.0
  assert summary.saved_durations(str(tmp_path / 'no-run')) == {}


def test_unknown_run_and_missing_store(home, tmp_path):
  with pytest.raises(LookupError, match="run 'run-9' is not in the metadata store"):
    summary.summarize_run(os.path.join(home, 'metadata.sqlite'), PIPELINE, 'run-9')
  with pytest.raises(LookupError, match='no ML Metadata here'):
    metadata.connect(str(tmp_path / 'nothing.sqlite'))


def test_a_run_killed_mid_write_leaves_the_store_readable(home):
  """SIGKILL during an ML Metadata write leaves SQLite's rollback journal, which a read-only
  connection cannot roll back: the history commands open it read-write then, and read the
  store as it was before the killed transaction."""
  import sqlite3
  import subprocess
  import sys
  path = os.path.join(home, 'metadata.sqlite')
  killed_writer = (
      'import os, sqlite3, sys\n'
      'db = sqlite3.connect(sys.argv[1], isolation_level=None)\n'
      'db.execute("PRAGMA cache_size=1")\n'  # the transaction spills into the file
      'db.execute("BEGIN")\n'
      'db.execute("CREATE TABLE killed (x TEXT)")\n'
      'db.executemany("INSERT INTO killed VALUES (?)", [("x" * 1000,)] * 500)\n'
      'os._exit(9)\n')  # as SIGKILL: neither commit nor rollback
  subprocess.run([sys.executable, '-c', killed_writer, path], check=False)
  assert os.path.getsize(path + '-journal') > 0
  with pytest.raises(RuntimeError, match='readonly database'):
    summary._store(path, mlmd.SqliteMetadataSourceConfig.READONLY)
  store = metadata.connect(path)
  assert [c.name for c in store.get_contexts()
          if c.type_id == store.get_context_type('pipeline_run').id] == [RUN_ID]
  assert not os.path.exists(path + '-journal')
  tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE name='killed'")
  assert tables.fetchall() == []  # rolled back


def test_run_list_and_the_default_run_of_report(home):
  store = metadata.connect(os.path.join(home, 'metadata.sqlite'))
  (row,) = metadata.list_runs(store, PIPELINE)
  assert (row.run_id, row.status, row.blessed, row.pushed_version, row.ndcg10) == (
      RUN_ID, 'complete', True, '3', None)
  assert row.components['BaselineLookup'] == 'cached'
  # Without an Evaluator result there is nothing to report on.
  assert selection.latest_evaluated_run(store, PIPELINE) is None


def test_lineage_of_a_registry_version_reaches_the_examples(home):
  store = metadata.connect(os.path.join(home, 'metadata.sqlite'))
  title, root = lineage.trace_target(store, '3', os.path.join(home, 'registry', PIPELINE))
  assert title.startswith('registry version 3 (') and title.endswith(f'), run {RUN_ID}')
  assert (root.artifact_type, root.producer) == ('PushedModel', 'RegistryPusher')
  (model,) = root.inputs['model']
  assert model.producer == 'Fusion'
  assert model.inputs['examples'][0].properties[keys.SPANS] == '0,1'
  from rich.console import Console
  console = Console(record=True, width=200)
  console.print(lineage.as_tree(title, root))
  tree = console.export_text()
  assert 'PushedModel from RegistryPusher [complete] pushed_version=3' in tree
  assert 'Examples (examples) from LogJoinExampleGen [complete] spans=0,1' in tree
  with pytest.raises(LookupError, match='no version 9 in the registry'):
    lineage.trace_target(store, '9', os.path.join(home, 'registry', PIPELINE))
  with pytest.raises(LookupError, match='/nowhere: no such artifact in ML Metadata'):
    lineage.trace_target(store, '/nowhere', os.path.join(home, 'registry', PIPELINE))


def test_closing_summary_of_a_run_without_an_evaluation(home):
  from rich.console import Console
  from recfusion.report import collect, text
  record = summary.summarize_run(os.path.join(home, 'metadata.sqlite'), PIPELINE, RUN_ID,
                                 {'Fusion': 2.5})
  report = collect.from_summary(record)
  assert report.models == {'Fusion': os.path.join(home, 'pipeline_root', 'Fusion/model/3')}
  console = Console(record=True, width=120)
  text.write(report, console)
  lines = [line.rstrip() for line in console.export_text().splitlines()]
  assert lines[0] == f'BLESSED: pushed as registry version 3  (run {RUN_ID})'
  assert re.search(r'│ Fusion +│ +complete │ +2\.5 │', '\n'.join(lines))
  assert 'data: spans [0, 1], 30 requests, examples train 90, validation 30, eval 30' in lines
  assert ('  note: 4 events skipped: item not in the catalog (data.on_unknown_item=skip)'
          in lines)
  assert 'fusion (weighted)' in lines and 'gate' not in lines
  assert lines[-1] == f'pushed version 3: {record.push["path"]}'


def test_running_runs_whose_process_is_gone_are_abandoned():
  from recfusion.runs.metadata import RunRow, mark_abandoned
  row = lambda run_id, status: RunRow(run_id, 0.0, 1.0, status, {}, None, None, None)
  rows = [row('alive', 'running'), row('killed', 'running'), row('done', 'complete')]
  assert [r.status for r in mark_abandoned(rows, 'alive')] == [
      'running', 'abandoned', 'complete']
  assert [r.status for r in mark_abandoned(rows, None)] == [
      'abandoned', 'abandoned', 'complete']
  # Killed between two components: every execution ML Metadata has is complete, but the run
  # never got to save its summary.
  assert [r.status for r in mark_abandoned(rows, None, finished=lambda run_id: False)] == [
      'abandoned', 'abandoned', 'abandoned']


def _kfp_artifact(schema_title, uri, **metadata):
  return {'type': {'schemaTitle': schema_title}, 'uri': uri, 'metadata': metadata}


def test_a_run_recorded_by_the_kfp_v2_backend_reads_like_a_local_one(tmp_path):
  """The shape a cluster's metadata has (pipeline/kfp_metadata_recorder.py): system.PipelineRun
  contexts, container executions named by task_name, TFX's ints recorded as doubles."""
  from recfusion.pipeline.kfp_metadata_recorder import KfpRunRecorder
  path = str(tmp_path / 'kfp.sqlite')
  root = 'gs://bucket/root'
  examples = _kfp_artifact('tfx.Examples', f'{root}/examples',
                           **{keys.JOIN_REPORT: json.dumps(JOIN_REPORT)})
  # TFX compiles its types as inline schemas; KFP names the MLMD type by the schema's title.
  examples['type'] = {'instanceSchema': 'title: tfx.Examples\ntype: object\n'}
  blessing = _kfp_artifact('tfx.ModelBlessing', f'{root}/blessing', **{keys.BLESSED: 1})
  pushed = _kfp_artifact('tfx.PushedModel', f'{root}/pushed', **{
      keys.PUSHED: 1, keys.PUSHED_VERSION: '4', keys.PUSHED_DESTINATION: '/registry/4'})
  recorder = KfpRunRecorder(path, PIPELINE, 'kfp-run-7')
  recorder.task('LogJoinExampleGen', 'img', True, {}, {'examples': [examples]})
  recorder.task('Evaluator', 'img', True, {'examples': [examples]}, {'blessing': [blessing]})
  recorder.task('RegistryPusher', 'img', True, {'blessing': [blessing]},
                {'pushed_model': [pushed]})
  recorder.finish(succeeded=True)
  # A failed run of another pipeline in the same store is not listed.
  other = KfpRunRecorder(path, 'another-pipeline', 'kfp-run-8')
  other.task('Trainer', 'img', False, {}, {})
  other.finish(succeeded=False)
  failed = KfpRunRecorder(path, PIPELINE, 'kfp-run-9')
  failed.task('LogJoinExampleGen', 'img', False, {}, {'examples': [examples]})
  failed.finish(succeeded=False)

  record = summary.summarize_run(path, PIPELINE, 'kfp-run-7')
  assert [(c.name, c.state) for c in record.components] == [
      ('LogJoinExampleGen', 'complete'), ('Evaluator', 'complete'),
      ('RegistryPusher', 'complete')]
  assert record.components[0].outputs == {'examples': [f'{root}/examples']}
  assert record.join_report == JOIN_REPORT
  assert record.blessed is True
  assert record.push == {'pushed': True, 'version': '4', 'path': '/registry/4'}
  store = metadata.connect(path)
  assert [t.name for t in store.get_artifact_types()] == [
      'tfx.Examples', 'tfx.ModelBlessing', 'tfx.PushedModel']
  rows = metadata.list_runs(store, PIPELINE)
  assert [(r.run_id, r.status, r.blessed, r.pushed_version) for r in rows] == [
      ('kfp-run-9', 'failed', None, None), ('kfp-run-7', 'complete', True, '4')]
  assert rows[0].components == {'LogJoinExampleGen': 'failed'}


def test_a_kfp_run_with_nothing_new_is_listed_as_such(tmp_path):
  """Only InputsCheck ran (KFP skipped the rest): the list says since which version."""
  from recfusion.pipeline.kfp_metadata_recorder import KfpRunRecorder
  path = str(tmp_path / 'kfp.sqlite')
  check = _kfp_artifact('recfusion.InputsCheck', 'gs://bucket/root/check', **{
      keys.INPUTS_DIGEST: 'abc', keys.INPUTS_CHANGED: 0, keys.UNCHANGED_SINCE_VERSION: 4})
  recorder = KfpRunRecorder(path, PIPELINE, 'kfp-run-10')
  recorder.task('InputsCheck', 'img', True, {}, {'result': [check]})
  recorder.finish(succeeded=True)
  record = summary.summarize_run(path, PIPELINE, 'kfp-run-10')
  assert record.push == {'pushed': False, 'unchanged_since': 4}
  (row,) = metadata.list_runs(metadata.connect(path), PIPELINE)
  assert (row.status, row.blessed, row.pushed_version) == ('nothing new since v4', None, None)


def test_run_list_takes_a_finished_runs_saved_summary_over_reading_the_evaluation(home, tmp_path):
  store = metadata.connect(os.path.join(home, 'metadata.sqlite'))
  record = summary.summarize_run(store, PIPELINE, RUN_ID)
  # What `recfusion run` keeps in the run folder once the Evaluator's result is read.
  record.evaluation['metrics'] = {keys.SCORE_KEY: {'ndcg@10': 0.61}}
  summary.save(record, str(tmp_path), wall_seconds=3.0)
  asked = []

  def saved(run_id):
    asked.append(run_id)
    return summary.load_saved(str(tmp_path))

  (row,) = metadata.list_runs(store, PIPELINE, saved=saved)
  assert asked == [RUN_ID]
  assert (row.ndcg10, row.blessed, row.pushed_version) == (0.61, True, '3')
  assert row.components == {c.name: c.state for c in record.components}
  assert summary.load_saved(str(tmp_path / 'no-run')) is None


def _add_evaluated_run(home: str, run_id: str, ndcg10=None) -> None:
  """Another run in the home's store: one Evaluator execution whose result folder does not
  exist, so any attempt to read TFMA's result would find nothing."""
  config = mlmd.ConnectionConfig()
  config.sqlite.filename_uri = os.path.join(home, 'metadata.sqlite')
  store = metadata_store.MetadataStore(config)
  run = mlmd.Context(type_id=store.get_context_type('pipeline_run').id, name=run_id)
  run.id = store.put_contexts([run])[0]
  node = store.get_context_by_type_and_name('node', f'{PIPELINE}.Evaluator')
  blessing = {keys.BLESSED: 0}
  evaluation = _artifact(store, 'ModelEvaluation', f'{home}/missing/{run_id}/evaluation')
  blessing = _artifact(store, 'ModelBlessing', f'{home}/missing/{run_id}/blessing', **blessing)
  if ndcg10 is not None:
    blessing.custom_properties[keys.NDCG10].string_value = repr(ndcg10)
    store.put_artifacts([blessing])
  events = []
  for key, artifact in (('evaluation', evaluation), ('blessing', blessing)):
    event = mlmd.Event(type=mlmd.Event.OUTPUT)
    event.path.steps.add().key = key
    events.append((artifact, event))
  store.put_execution(mlmd.Execution(type_id=store.get_execution_type('Component').id,
                                     last_known_state=mlmd.Execution.COMPLETE),
                      artifact_and_events=events, contexts=[run, node])


def test_run_list_and_default_run_need_no_evaluation_result(home):
  """The Evaluator records the NDCG@10 on its blessing: listing runs and choosing the one to
  report read ML Metadata only (the result folders here do not exist)."""
  _add_evaluated_run(home, 'run-2', ndcg10=0.4375)
  store = metadata.connect(os.path.join(home, 'metadata.sqlite'))
  rows = metadata.list_runs(store, PIPELINE)
  assert [(r.run_id, r.ndcg10, r.blessed) for r in rows] == [
      ('run-2', 0.4375, False), (RUN_ID, None, True)]
  assert selection.latest_evaluated_run(store, PIPELINE) == 'run-2'
  record = summary.summarize_run(store, PIPELINE, 'run-2', read_evaluation=False)
  assert (record.evaluated, record.ndcg10) == (True, 0.4375)
  assert record.evaluation['uri'] == f'{home}/missing/run-2/evaluation'
