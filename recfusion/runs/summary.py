"""What a run did, read back from ML Metadata: component states, outputs and data counts."""
import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from recfusion import keys

_STATES = {v: k.lower() for k, v in metadata_store_pb2.Execution.State.items()}


def execution_state(execution) -> str:
  """'complete', 'cached', 'failed', 'running', ... of an MLMD execution."""
  return _STATES.get(execution.last_known_state, 'unknown')


@dataclasses.dataclass
class ComponentRecord:
  name: str
  state: str  # complete | cached | failed | running | ...
  seconds: Optional[float]
  outputs: Dict[str, List[str]]  # output key -> artifact URIs


@dataclasses.dataclass
class RunSummary:
  """What a run did. The in-DAG RunReport fills only what its input artifacts tell (no
  components); a run read from ML Metadata fills everything."""
  run_id: str = ''
  pipeline: str = ''
  components: List[ComponentRecord] = dataclasses.field(default_factory=list)
  join_report: Dict[str, Any] = dataclasses.field(default_factory=dict)
  fusion: Dict[str, Any] = dataclasses.field(default_factory=dict)
  # blessed, baseline_version; from ML Metadata also the overall metrics and failed thresholds.
  evaluation: Dict[str, Any] = dataclasses.field(default_factory=dict)
  # keys.push_record; or {'pushed': False, 'unchanged_since': N} for a Kubeflow run whose
  # InputsCheck found nothing new since registry version N (nothing else ran).
  push: Dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def blessed(self) -> Optional[bool]:
    return self.evaluation.get('blessed')

  @property
  def evaluated(self) -> bool:
    """Whether the Evaluator wrote a result in this run."""
    return bool(self.evaluation.get('uri'))

  @property
  def ndcg10(self) -> Optional[float]:
    """The fused model's NDCG@10 on eval: from the Evaluator's result when it was read, else
    from what the Evaluator recorded on its blessing (runs from before it did: None)."""
    read = self.evaluation.get('metrics', {}).get(keys.SCORE_KEY, {}).get('ndcg@10')
    return read if read is not None else self.evaluation.get('ndcg10')

  @property
  def baseline_version(self) -> Optional[int]:
    return self.evaluation.get('baseline_version')

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, saved: Dict[str, Any]) -> 'RunSummary':
    """From `to_dict`'s output (extra keys, such as the saved file's wall time, ignored)."""
    fields = {f.name for f in dataclasses.fields(cls)} - {'components'}
    return cls(components=[ComponentRecord(**c) for c in saved['components']],
               **{k: v for k, v in saved.items() if k in fields})


SUMMARY_FILE = 'summary.json'


def save(summary: RunSummary, run_dir: str, wall_seconds: float) -> str:
  """Keeps the summary in the run's folder: `recfusion report` reads the component times back
  from it (ML Metadata does not record them), `recfusion runs` the verdict and metrics.
  Written whole or not at all (temp file + rename), so a killed run leaves no half file."""
  path = os.path.join(run_dir, SUMMARY_FILE)
  with open(path + '.tmp', 'w') as f:
    json.dump({**summary.to_dict(), 'wall_seconds': wall_seconds}, f, indent=2)
  os.replace(path + '.tmp', path)
  return path


def load_saved(run_dir: Optional[str]) -> Optional[Dict[str, Any]]:
  """The summary a finished local run kept in its folder (None for runs that left none: still
  running, killed, or run on a cluster)."""
  path = os.path.join(run_dir, SUMMARY_FILE) if run_dir else ''
  if not path or not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      saved = json.load(f)
    RunSummary.from_dict(saved)  # a file from another version of recfusion may not fit
    return saved
  except (ValueError, KeyError, TypeError):
    return None  # then ML Metadata is read instead


def saved_durations(run_dir: Optional[str]) -> Dict[str, float]:
  """Seconds per component of a local run ({} for runs that left no summary file)."""
  saved = load_saved(run_dir)
  return {c['name']: c['seconds'] for c in saved['components']} if saved else {}


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
  """The home's ML Metadata, read-only; read-write only to finish a killed run's write.

  A run killed in the middle of an MLMD write (SIGKILL, the OOM killer, a lost machine)
  leaves SQLite's rollback journal behind. Until a writer rolls it back, every read-only
  connection fails ("attempt to write a readonly database"), so `runs`, `report` and
  `lineage` would fail until the next run. Rolling it back is what SQLite does for the next
  writer anyway: it restores the database as it was before the killed transaction.
  """
  try:
    return _store(metadata_path, metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)
  except RuntimeError as e:
    if 'readonly database' not in str(e) or not os.path.exists(metadata_path + '-journal'):
      raise
  return _store(metadata_path, metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE)


def _store(metadata_path: str, mode) -> metadata_store.MetadataStore:
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = mode
  return metadata_store.MetadataStore(config)


def _output_artifacts(store, execution_id: int) -> Dict[str, List[Any]]:
  events = store.get_events_by_execution_ids([execution_id])
  outputs = [e for e in events if e.type in (metadata_store_pb2.Event.OUTPUT,
                                             metadata_store_pb2.Event.DECLARED_OUTPUT)]
  artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in outputs])}
  by_key: Dict[str, List[Any]] = {}
  for event in outputs:
    key = event.path.steps[0].key if event.path.steps else 'output'
    if event.artifact_id in artifacts:
      by_key.setdefault(key, []).append(artifacts[event.artifact_id])
  return by_key


# Where runs are recorded: TFX's local runner writes `pipeline_run` contexts and one `node`
# context per component; on a cluster the KFP v2 backend writes `system.PipelineRun` contexts
# whose container executions name their task (pipeline/kfp_metadata_recorder.py records the
# same shape in tests).
LOCAL_RUN_CONTEXT = 'pipeline_run'
KFP_RUN_CONTEXT = 'system.PipelineRun'
KFP_PIPELINE_CONTEXT = 'system.Pipeline'
KFP_TASK_EXECUTION = 'system.ContainerExecution'


def run_contexts(store, pipeline_name: str) -> List[Any]:
  """Every run of the pipeline, local or KFP v2 (KFP makes each run a child of its pipeline's
  context, so runs of other pipelines on the cluster are never fetched)."""
  contexts = list(store.get_contexts_by_type(LOCAL_RUN_CONTEXT))
  pipeline = store.get_context_by_type_and_name(KFP_PIPELINE_CONTEXT, pipeline_name)
  if pipeline is not None:
    contexts += [c for c in store.get_children_contexts_by_context(pipeline.id)
                 if c.type == KFP_RUN_CONTEXT]
  return contexts


def _run_context(store, run_id: str):
  for type_name in (LOCAL_RUN_CONTEXT, KFP_RUN_CONTEXT):
    context = store.get_context_by_type_and_name(type_name, run_id)
    if context is not None:
      return context
  raise LookupError(f'run {run_id!r} is not in the metadata store')


def _component_executions(store, pipeline_name: str, run_context) -> Dict[str, Any]:
  """The latest execution of each component in the run, by component name."""
  run_executions = store.get_executions_by_context(run_context.id)
  latest: Dict[str, Any] = {}
  if run_context.type == KFP_RUN_CONTEXT:
    for execution in run_executions:
      task = execution.custom_properties.get('task_name')
      if execution.type == KFP_TASK_EXECUTION and task is not None:
        latest[task.string_value] = max(latest.get(task.string_value, execution), execution,
                                        key=lambda e: e.id)
    return latest
  in_run = {e.id for e in run_executions}
  node_prefix = f'{pipeline_name}.'
  for node in store.get_contexts_by_type('node'):
    if not node.name.startswith(node_prefix):
      continue
    executions = [e for e in store.get_executions_by_context(node.id) if e.id in in_run]
    if executions:
      latest[node.name[len(node_prefix):]] = max(executions, key=lambda e: e.id)
  return latest


def summarize_run(metadata, pipeline_name: str, run_id: str,
                  durations: Optional[Dict[str, float]] = None,
                  read_evaluation: bool = True) -> RunSummary:
  """`metadata`: a MetadataStore, or the path of a run home's SQLite file. `read_evaluation`:
  load the Evaluator's TFMA result for the metrics (slow; on a cluster it needs the bucket)."""
  store = open_store(metadata) if isinstance(metadata, str) else metadata
  run_context = _run_context(store, run_id)
  ordered: List[tuple] = []
  join_report: Dict[str, Any] = {}
  fusion: Dict[str, Any] = {}
  evaluation: Dict[str, Any] = {}
  push: Dict[str, Any] = {}
  evaluation_uri = ''
  for name, execution in _component_executions(store, pipeline_name, run_context).items():
    outputs = _output_artifacts(store, execution.id)
    ordered.append((execution.id, ComponentRecord(
        name=name, state=execution_state(execution),
        seconds=(durations or {}).get(name),
        outputs={k: [a.uri for a in v] for k, v in outputs.items()})))
    for artifact in outputs.get('examples', []):
      if keys.JOIN_REPORT in artifact.custom_properties:
        join_report = json.loads(keys.string_property(artifact, keys.JOIN_REPORT))
    for artifact in outputs.get('fusion_report', []):
      fusion = json.loads(keys.string_property(artifact, keys.FUSION_REPORT) or '{}')
    for artifact in outputs.get('baseline_model', []):
      evaluation['baseline_version'] = keys.baseline_version(artifact)
    for artifact in outputs.get('blessing', []):
      evaluation['blessed'] = bool(keys.int_property(artifact, keys.BLESSED))
      checks = keys.string_property(artifact, keys.GATE_CHECKS)
      if checks:
        evaluation['gate'] = json.loads(checks)
      ndcg10 = keys.string_property(artifact, keys.NDCG10)
      if ndcg10:
        evaluation['ndcg10'] = float(ndcg10)
    for artifact in outputs.get('evaluation', []):
      evaluation_uri = artifact.uri
      evaluation['uri'] = evaluation_uri
    for artifact in outputs.get('pushed_model', []):
      push = keys.push_record(artifact)
    for artifact in outputs.get('result', []):  # InputsCheck, on Kubeflow
      if (keys.INPUTS_DIGEST in artifact.custom_properties
          and not keys.int_property(artifact, keys.INPUTS_CHANGED)):
        push = {'pushed': False, 'unchanged_since': keys.int_property(
            artifact, keys.UNCHANGED_SINCE_VERSION)}
  if evaluation_uri and read_evaluation:
    from recfusion.evaluation import results  # TFMA: only when there is a result
    metrics = results.load(evaluation_uri)
    evaluation['metrics'] = results.overall_metrics(metrics)
    evaluation['baseline_metrics'] = results.overall_metrics(metrics, baseline=True)
    evaluation['failed_thresholds'] = results.failed_thresholds(evaluation_uri)
  components = [record for _, record in sorted(ordered, key=lambda pair: pair[0])]
  return RunSummary(run_id=run_id, pipeline=pipeline_name, components=components,
                    join_report=join_report, fusion=fusion, evaluation=evaluation, push=push)

