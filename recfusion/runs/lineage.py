"""Lineage of an artifact in ML Metadata: what produced it from what, back to the data spans."""
import dataclasses
import os
from typing import Any, Dict, List, Optional, Tuple

from ml_metadata.proto import metadata_store_pb2
from rich.markup import escape
from rich.tree import Tree

from recfusion import keys
from recfusion import registry
from recfusion.runs.summary import execution_state

_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
# TFX's bookkeeping properties say nothing about where a model came from.
_TFX_PROPERTIES = ('tfx_version', 'state', 'name', 'producer_component')
# The settings of a producer that decide what it read: the data folder, the window, the method.
_PRODUCER_SETTINGS = ('input_base', 'window_spans', 'method', 'run_fn', 'registry_dir')
# Shown on a tree node; the rest (reports as JSON, ...) would bury the lineage.
_SHOWN_PROPERTIES = (keys.SPANS, 'span', keys.PUSHED_VERSION, keys.BASELINE_VERSION,
                     keys.FUSION_METHOD, keys.BLESSED, keys.BASELINE_FOUND)


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
                      if not k.startswith('__') and k not in _TFX_PROPERTIES},
                     None, None, {}, {})
  producers = [e for e in store.get_events_by_artifact_ids([artifact_id])
               if e.type in _OUTPUT_EVENTS]
  if not producers:
    return node
  execution = store.get_executions_by_id([producers[0].execution_id])[0]
  node.producer = _node_name(store, execution.id)
  node.producer_state = execution_state(execution)
  node.producer_properties = {k: _value(v) for k, v in execution.custom_properties.items()
                              if k in _PRODUCER_SETTINGS}
  # An execution reached twice (a shared input) is expanded once.
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
    if keys.string_property(artifact, keys.PUSHED_DESTINATION) == destination:
      return artifact
  return None


def find_by_uri(store, uri: str):
  found = store.get_artifacts_by_uri(uri)
  return found[0] if found else None


def trace_target(store, target: str, registry_dir: str) -> Tuple[str, LineageNode]:
  """(title, lineage) of a registry version number or an artifact URI; LookupError when
  neither is known."""
  if target.isdigit():
    record = registry.find(registry_dir, int(target))
    if record is None:
      raise LookupError(f'{registry_dir}: no version {target} in the registry')
    artifact = find_pushed(store, record.path)
    title = f'registry version {record.version} ({record.path}), run {record.run_id}'
  else:
    artifact = find_by_uri(store, os.path.abspath(target))
    title = target
  if artifact is None:
    raise LookupError(f'{target}: no such artifact in ML Metadata')
  return title, trace(store, artifact.id)


def as_tree(title: str, root: LineageNode) -> Tree:
  tree = Tree(title)
  _add(tree, root)
  return tree


def _add(tree: Tree, node: LineageNode, key: str = '') -> None:
  label = f'[bold]{node.artifact_type}[/]' + (f' ({key})' if key else '')
  if node.producer:
    # Escaped: rich would take '[complete]' for a style tag and drop it.
    label += f' from [cyan]{node.producer}[/] ' + escape(f'[{node.producer_state}]')
  details = {**node.producer_properties,
             **{k: v for k, v in node.properties.items() if k in _SHOWN_PROPERTIES}}
  if details:
    label += ' ' + escape(', '.join(f'{k}={v}' for k, v in sorted(details.items())))
  branch = tree.add(label + f'\n[dim]{escape(node.uri)}[/]')
  for input_key, nodes in sorted(node.inputs.items()):
    for child in nodes:
      _add(branch, child, input_key)
