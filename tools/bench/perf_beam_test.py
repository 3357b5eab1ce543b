"""perf_beam re-runs a recorded execution: its inputs as recorded, fresh outputs, its
properties, the Beam args given; on a hand-made ML Metadata store and a fake executor."""
import os

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from tools.bench import perf_beam


def _store(home):
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = os.path.join(home, 'metadata.sqlite')
  return metadata_store.MetadataStore(connection)


def _record_execution(store, node, examples_uri, state=metadata_store_pb2.Execution.COMPLETE):
  context_type = store.put_context_type(metadata_store_pb2.ContextType(name='node'))
  [context_id] = store.put_contexts([metadata_store_pb2.Context(type_id=context_type,
                                                                name=f'recfusion.{node}')])
  artifact_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='Examples'))
  [examples, evaluation] = store.put_artifacts([
      metadata_store_pb2.Artifact(type_id=artifact_type, uri=examples_uri),
      metadata_store_pb2.Artifact(type_id=artifact_type, uri='/old/output')])
  execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name=node))
  execution = metadata_store_pb2.Execution(type_id=execution_type, last_known_state=state)
  execution.custom_properties['eval_config'].string_value = '{}'
  execution.custom_properties['__stateful_working_dir__'].string_value = '/tfx/internal'
  [execution_id] = store.put_executions([execution])
  store.put_attributions_and_associations(
      [], [metadata_store_pb2.Association(context_id=context_id, execution_id=execution_id)])

  def event(artifact_id, kind, key):
    e = metadata_store_pb2.Event(artifact_id=artifact_id, execution_id=execution_id, type=kind)
    e.path.steps.add().key = key
    return e
  store.put_events([event(examples, metadata_store_pb2.Event.INPUT, 'examples'),
                    event(evaluation, metadata_store_pb2.Event.OUTPUT, 'evaluation')])
  return execution_id


class _Recorder:
  calls = []

  def __init__(self, context):
    from tfx.utils import dependency_utils
    self._context = context
    # TFX's Beam executors package TFX when built: the DAG builds them with that skipped.
    self._packaging = dependency_utils.make_beam_dependency_flags.__name__

  def Do(self, inputs, outputs, properties):
    uri = outputs['evaluation'][0].uri
    _Recorder.calls.append({
        'inputs': {k: [a.uri for a in v] for k, v in inputs.items()},
        'output_is_fresh': os.path.isdir(uri) and uri != '/old/output',
        'properties': properties, 'beam_args': self._context.beam_pipeline_args,
        'packaging_when_built': self._packaging})


def test_the_last_complete_execution_is_rerun_with_the_beam_args_given(tmp_path):
  store = _store(str(tmp_path))
  execution_id = _record_execution(store, 'Evaluator', '/data/examples/3')
  _Recorder.calls.clear()
  rows = perf_beam.rerun_steps(str(tmp_path), perf_beam.MULTI_PROCESSING,
                               steps=[('Evaluator', lambda: _Recorder),
                                      ('Transform', lambda: _Recorder)])
  assert [r['component'] for r in rows] == ['Evaluator', 'Transform']
  assert rows[0]['execution'] == execution_id and rows[0]['seconds'] >= 0
  assert rows[0]['peak_rss_mb'] > 0
  assert rows[1] == {'component': 'Transform', 'seconds': None,
                     'detail': 'no complete execution'}
  (call,) = _Recorder.calls
  assert call == {'inputs': {'examples': ['/data/examples/3']}, 'output_is_fresh': True,
                  'properties': {'eval_config': '{}'},
                  'beam_args': list(perf_beam.MULTI_PROCESSING),
                  'packaging_when_built': 'direct_runner_aware'}


def test_a_failed_execution_is_not_rerun(tmp_path):
  store = _store(str(tmp_path))
  _record_execution(store, 'Evaluator', '/data', state=metadata_store_pb2.Execution.FAILED)
  assert perf_beam.last_execution(store, 'Evaluator') is None


def test_each_beam_step_reruns_with_the_executor_the_dag_runs_it_with():
  from recfusion.config import load_config
  from recfusion.pipeline import factory
  pipeline = factory.create_pipeline(load_config(), '/data', '/root', registry_dir='/registry')
  dag = {c.id: c.executor_spec.executor_class for c in pipeline.components}
  for node, executor_class in perf_beam.BEAM_STEPS:
    assert executor_class() is dag[node], node
