"""A finished run's Beam steps again, on the same inputs, with other Beam pipeline args.

bench-perf times the DAG with the local default (Beam's in-memory DirectRunner, one worker);
this re-runs the run's four Beam steps with Beam's multi-process DirectRunner (2 workers by
default), one executor after the other, each on the inputs and execution properties that ML
Metadata recorded for the run's last execution of that step, writing into a scratch folder that
is removed afterwards. Nothing else of the run is repeated: the steps between (Trainers, Fusion)
are not Beam and would take the same time.
Run by tools/bench/perf.py in a process of its own (`python -m tools.bench.perf_beam`).
"""
import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

MULTI_PROCESSING = ('--direct_running_mode=multi_processing', '--direct_num_workers=2')


def _load(module: str, name: str) -> Callable[[], Any]:
  """`name` of `module` (an executor or a component class), imported when used."""
  def load():
    import importlib
    return getattr(importlib.import_module(module), name)
  return load


def _component_executor(module: str, name: str) -> Callable[[], Any]:
  """The executor class of component `name` of `module`, imported when used."""
  component = _load(module, name)
  return lambda: component().EXECUTOR_SPEC.executor_class


# The DAG's Beam steps, in run order: node id and the executor the DAG runs it with.
BEAM_STEPS = (
    ('LogJoinExampleGen', _component_executor(
        'recfusion.components.log_join_example_gen.component', 'LogJoinExampleGen')),
    ('StatisticsGen', _component_executor('tfx.components', 'StatisticsGen')),
    ('Transform', _load('recfusion.components.transform.executor', 'Executor')),
    ('Evaluator', _component_executor('recfusion.components.evaluator.component', 'Evaluator')),
)


def last_execution(store, node: str):
  """The last complete execution of `node` in the home's ML Metadata (None without one)."""
  from ml_metadata.proto import metadata_store_pb2
  contexts = [c for c in store.get_contexts() if c.name == node or c.name.endswith('.' + node)]
  executions = [e for c in contexts for e in store.get_executions_by_context(c.id)
                if e.last_known_state == metadata_store_pb2.Execution.COMPLETE]
  return max(executions, key=lambda e: e.id, default=None)


def recorded_call(store, execution, out_root: str) -> Tuple[Dict, Dict, Dict]:
  """The execution's inputs as recorded, fresh outputs of the same types under `out_root`, and
  its execution properties (TFX's own '__'-prefixed bookkeeping left out)."""
  from ml_metadata.proto import metadata_store_pb2
  from tfx.types import artifact_utils
  events = store.get_events_by_execution_ids([execution.id])
  artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
  types = {t.id: t for t in store.get_artifact_types_by_id(
      list({a.type_id for a in artifacts.values()}))}
  inputs: Dict[str, List] = {}
  outputs: Dict[str, List] = {}
  for event in events:
    stored = artifacts[event.artifact_id]
    key = event.path.steps[0].key
    artifact_type = types[stored.type_id]
    if event.type == metadata_store_pb2.Event.OUTPUT:
      fresh = artifact_utils.deserialize_artifact(
          artifact_type, metadata_store_pb2.Artifact(type_id=stored.type_id))
      fresh.uri = os.path.join(out_root, key)
      os.makedirs(fresh.uri, exist_ok=True)
      outputs.setdefault(key, []).append(fresh)
    elif event.type in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT):
      inputs.setdefault(key, []).append(artifact_utils.deserialize_artifact(artifact_type,
                                                                            stored))
  properties = {}
  for name, value in execution.custom_properties.items():
    if name.startswith('__'):
      continue
    which = value.WhichOneof('value')
    properties[name] = getattr(value, which) if which != 'proto_value' else value
  return inputs, outputs, properties


def children_peak_mb() -> float:
  """The largest peak RSS of this process's finished children (Beam's worker processes), over
  all steps: the kernel keeps one maximum, not one per step."""
  return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def rerun_steps(home: str, beam_args: Sequence[str], steps=BEAM_STEPS) -> List[Dict]:
  from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
  from recfusion.pipeline import beam_swaps, beam_workers, memory
  from recfusion.runs import summary
  from tools.bench import perf_dag

  store = summary.open_store(os.path.join(home, 'metadata.sqlite'))
  rows = []
  for node, executor_class in steps:
    execution = last_execution(store, node)
    if execution is None:
      rows.append({'component': node, 'seconds': None, 'detail': 'no complete execution'})
      continue
    scratch = tempfile.mkdtemp(prefix=f'perf-beam-{node}-')
    try:
      inputs, outputs, properties = recorded_call(store, execution, scratch)
      context = BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args),
                                         tmp_dir=os.path.join(scratch, '.tmp'),
                                         unique_id=str(execution.id))
      perf_dag.reset_peak_rss()
      started = time.monotonic()
      # TFX packages itself when the executor is built, which the DAG's steps skip (the
      # executor is built inside the context, as the local runner builds it); Beam's swaps are
      # in and what existed before stays out of collections, as in the DAG.
      with beam_workers.tfx_packaging_skipped(), beam_swaps.swapped_in(), \
          memory.preexisting_kept_out_of_collections():
        executor = executor_class()(context)
        executor.Do(inputs, outputs, properties)
      rows.append({'component': node, 'seconds': round(time.monotonic() - started, 2),
                   'peak_rss_mb': round(perf_dag.peak_rss_mb(), 1), 'execution': execution.id})
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
  return rows


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--home', required=True, help='the home of a finished run')
  parser.add_argument('--beam-arg', dest='beam_args', action='append',
                      help=f'a Beam pipeline arg (repeat; default: {" ".join(MULTI_PROCESSING)})')
  parser.add_argument('--out', required=True)
  args = parser.parse_args(argv)
  beam_args = args.beam_args or list(MULTI_PROCESSING)
  result = {'beam_args': beam_args, 'steps': rerun_steps(args.home, beam_args),
            'workers_peak_rss_mb': children_peak_mb()}
  with open(args.out, 'w') as f:
    json.dump(result, f, indent=2)


if __name__ == '__main__':
  main()
