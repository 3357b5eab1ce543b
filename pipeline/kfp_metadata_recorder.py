"""Records a run of a compiled spec into ML Metadata the way the KFP v2 backend does.

KFP v2's driver and launcher (not TFX) write a cluster's metadata: one `system.PipelineRun`
context per run (named by the run id, child of a `system.Pipeline` context named by the
pipeline), a `system.DAGExecution` for the root DAG, one `system.ContainerExecution` per task
(custom properties `task_name`, `display_name`, `pod_name`, `namespace`, `image`,
`parent_dag_id`), artifact types named by the artifacts' schema titles, each artifact's executor
output `metadata` as custom properties (JSON numbers become doubles: TFX's int properties
arrive as 1.0), and INPUT/OUTPUT events keyed by the input or output name.

`pipeline/kubeflow_local.py` uses it so `recfusion runs --mlmd-host` is tested against a store
shaped like a cluster's, not like the local TFX runner's.
"""
from typing import Any, Dict, List, Mapping

import yaml
from google.protobuf import struct_pb2
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from recfusion.runs.summary import KFP_PIPELINE_CONTEXT, KFP_RUN_CONTEXT, KFP_TASK_EXECUTION

# The names recfusion's reader (recfusion/runs/summary.py) looks for, and KFP's root DAG.
PIPELINE_CONTEXT = KFP_PIPELINE_CONTEXT
RUN_CONTEXT = KFP_RUN_CONTEXT
CONTAINER_EXECUTION = KFP_TASK_EXECUTION
DAG_EXECUTION = 'system.DAGExecution'


def artifact_type_name(artifact_type: Mapping[str, Any]) -> str:
  """The MLMD type name KFP gives an artifact: its schema title, given by name (`schemaTitle`)
  or inside the inline schema TFX compiles (`instanceSchema: "title: tfx.Schema ..."`)."""
  if 'schemaTitle' in artifact_type:
    return artifact_type['schemaTitle']
  return yaml.safe_load(artifact_type['instanceSchema'])['title']


def _value(value: Any) -> mlmd.Value:
  if isinstance(value, bool):
    return mlmd.Value(bool_value=value)
  if isinstance(value, (int, float)):
    return mlmd.Value(double_value=float(value))
  if isinstance(value, str):
    return mlmd.Value(string_value=value)
  struct = struct_pb2.Struct()
  struct.update({'value': value})
  return mlmd.Value(struct_value=struct)


class KfpRunRecorder:
  """One pipeline run; call `task` once per finished (or failed) task, in execution order."""

  def __init__(self, metadata_path: str, pipeline_name: str, run_id: str,
               namespace: str = 'recfusion'):
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    self._store = metadata_store.MetadataStore(config)
    self._namespace = namespace
    self._run_id = run_id
    self._artifact_ids: Dict[str, int] = {}  # by URI
    pipeline = self._context(PIPELINE_CONTEXT, pipeline_name)
    self._run = self._context(RUN_CONTEXT, run_id, namespace=namespace,
                              resource_name=f'run-{run_id}')
    self._store.put_parent_contexts([mlmd.ParentContext(child_id=self._run,
                                                        parent_id=pipeline)])
    self._root = self._execution(DAG_EXECUTION, mlmd.Execution.RUNNING,
                                 display_name=pipeline_name)

  def _type_id(self, kind: str, name: str) -> int:
    put = {'context': (self._store.put_context_type, mlmd.ContextType),
           'execution': (self._store.put_execution_type, mlmd.ExecutionType),
           'artifact': (self._store.put_artifact_type, mlmd.ArtifactType)}[kind]
    return put[0](put[1](name=name))

  def _context(self, type_name: str, name: str, **properties: str) -> int:
    existing = self._store.get_context_by_type_and_name(type_name, name)
    if existing is not None:  # one Pipeline context for all its runs
      return existing.id
    context = mlmd.Context(type_id=self._type_id('context', type_name), name=name)
    for key, value in properties.items():
      context.custom_properties[key].string_value = value
    return self._store.put_contexts([context])[0]

  def _execution(self, type_name: str, state: int, **properties: Any) -> int:
    execution = mlmd.Execution(type_id=self._type_id('execution', type_name),
                               last_known_state=state)
    for key, value in properties.items():
      execution.custom_properties[key].CopyFrom(_value(value))
    execution_id, = self._store.put_executions([execution])
    self._store.put_attributions_and_associations(
        [], [mlmd.Association(execution_id=execution_id, context_id=self._run)])
    return execution_id

  def _artifact(self, artifact: Mapping[str, Any], name: str) -> int:
    if artifact['uri'] in self._artifact_ids:
      return self._artifact_ids[artifact['uri']]
    record = mlmd.Artifact(
        type_id=self._type_id('artifact', artifact_type_name(artifact['type'])),
        uri=artifact['uri'], state=mlmd.Artifact.LIVE)
    record.custom_properties['display_name'].string_value = name
    for key, value in (artifact.get('metadata') or {}).items():
      record.custom_properties[key].CopyFrom(_value(value))
    artifact_id, = self._store.put_artifacts([record])
    self._store.put_attributions_and_associations(
        [mlmd.Attribution(artifact_id=artifact_id, context_id=self._run)], [])
    self._artifact_ids[artifact['uri']] = artifact_id
    return artifact_id

  def task(self, task_name: str, image: str, succeeded: bool,
           inputs: Mapping[str, List[Mapping[str, Any]]],
           outputs: Mapping[str, List[Mapping[str, Any]]]) -> None:
    state = mlmd.Execution.COMPLETE if succeeded else mlmd.Execution.FAILED
    execution_id = self._execution(
        CONTAINER_EXECUTION, state, display_name=task_name, task_name=task_name,
        pod_name=f'{self._run_id}-{task_name.lower().replace(".", "-")}',
        namespace=self._namespace, image=image, parent_dag_id=self._root)
    events = []
    for kind, artifacts_by_key in ((mlmd.Event.INPUT, inputs), (mlmd.Event.OUTPUT, outputs)):
      if kind == mlmd.Event.OUTPUT and not succeeded:
        break  # a failed launcher publishes no outputs
      for key, artifacts in artifacts_by_key.items():
        for artifact in artifacts:
          event = mlmd.Event(artifact_id=self._artifact(artifact, key),
                             execution_id=execution_id, type=kind)
          event.path.steps.add().key = key
          events.append(event)
    self._store.put_events(events)

  def finish(self, succeeded: bool) -> None:
    root, = self._store.get_executions_by_id([self._root])
    root.last_known_state = mlmd.Execution.COMPLETE if succeeded else mlmd.Execution.FAILED
    self._store.put_executions([root])
