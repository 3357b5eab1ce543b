"""Reading ML Metadata for `recfusion runs` and `recfusion lineage`.

Works on the local SQLite store of a run home, or on the metadata gRPC service of a Kubeflow
cluster (`--mlmd-host/--mlmd-port`), since both speak the same MLMD API.
"""
import dataclasses
from typing import Any, Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from recfusion.runs.summary import execution_state, open_store, summarize_run

_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


def connect(metadata_path: Optional[str] = None, host: Optional[str] = None,
            port: Optional[int] = None) -> metadata_store.MetadataStore:
  if host:
    config = metadata_store_pb2.MetadataStoreClientConfig(host=host, port=port or 8080)
    return metadata_store.MetadataStore(config)
  return open_store(metadata_path)


@dataclasses.dataclass
class RunRow:
  run_id: str
  started: float  # epoch seconds
  seconds: float
  status: str
  components: Dict[str, str]
  ndcg10: Optional[float]
  blessed: Optional[bool]
  pushed_version: Optional[str]


def list_runs(store, pipeline: str, limit: int = 10) -> List[RunRow]:
  """Newest first."""
  contexts = sorted(store.get_contexts_by_type('pipeline_run'),
                    key=lambda c: c.create_time_since_epoch, reverse=True)
  rows = []
  for context in contexts[:limit]:
    executions = store.get_executions_by_context(context.id)
    if not executions:
      continue
    states = {execution_state(e) for e in executions}
    status = ('failed' if 'failed' in states else
              'running' if states & {'running', 'new'} else 'complete')
    summary = summarize_run(store, pipeline, context.name)
    if not summary.components:
      continue
    rows.append(RunRow(
        run_id=context.name,
        started=min(e.create_time_since_epoch for e in executions) / 1000,
        seconds=(max(e.last_update_time_since_epoch for e in executions) -
                 min(e.create_time_since_epoch for e in executions)) / 1000,
        status=status, components={c.name: c.state for c in summary.components},
        ndcg10=summary.evaluation.get('metrics', {}).get('score', {}).get('ndcg@10'),
        blessed=summary.evaluation.get('blessed'),
        pushed_version=(summary.push.get('version') or None) if summary.push.get('pushed')
        else None))
  return rows


@dataclasses.dataclass
class LineageNode:
  artifact_type: str
  uri: str
  properties: Dict[str, Any]
  producer: Optional[str]  # the component that wrote it
  producer_state: Optional[str]
  producer_properties: Dict[str, Any]
  inputs: Dict[str, List['LineageNode']]  # the producer's input key -> upstream artifacts


def _value(value) -> Any:
  kind = value.WhichOneof('value')
  return getattr(value, kind) if kind else None


def _node_name(store, execution_id: int) -> str:
  for context in store.get_contexts_by_execution(execution_id):
    if context.type == 'node' or store.get_context_types_by_id([context.type_id])[0].name == 'node':
      return context.name.split('.', 1)[-1]
  return '?'


def trace(store, artifact_id: int, seen: Optional[set] = None) -> LineageNode:
  """The artifact and, recursively, what produced it from what."""
  seen = set() if seen is None else seen
  artifact = store.get_artifacts_by_id([artifact_id])[0]
  artifact_type = store.get_artifact_types_by_id([artifact.type_id])[0].name
  node = LineageNode(artifact_type, artifact.uri,
                     {k: _value(v) for k, v in artifact.custom_properties.items()
                      if not k.startswith('__') and k not in ('tfx_version', 'state', 'name',
                                                               'producer_component')},
                     None, None, {}, {})
  producers = [e for e in store.get_events_by_artifact_ids([artifact_id])
               if e.type in _OUTPUT_EVENTS]
  if not producers:
    return node
  execution = store.get_executions_by_id([producers[0].execution_id])[0]
  node.producer = _node_name(store, execution.id)
  node.producer_state = execution_state(execution)
  node.producer_properties = {k: _value(v) for k, v in execution.custom_properties.items()
                              if k in ('input_base', 'window_spans', 'method', 'run_fn',
                                       'registry_dir')}
  if execution.id in seen:
    return node
  seen.add(execution.id)
  for event in store.get_events_by_execution_ids([execution.id]):
    if event.type in _INPUT_EVENTS:
      key = event.path.steps[0].key if event.path.steps else 'input'
      node.inputs.setdefault(key, []).append(trace(store, event.artifact_id, seen))
  return node


def find_pushed(store, destination: str):
  """The PushedModel artifact that recorded a push to `destination`."""
  for artifact in store.get_artifacts_by_type('PushedModel'):
    value = artifact.custom_properties.get('pushed_destination')
    if value is not None and value.string_value == destination:
      return artifact
  return None


def find_by_uri(store, uri: str):
  found = store.get_artifacts_by_uri(uri)
  return found[0] if found else None
