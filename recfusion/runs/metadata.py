"""Connecting to ML Metadata and listing the runs recorded there.

Works on the local SQLite store of a run home, or on the metadata gRPC service of a Kubeflow
cluster (`--mlmd-host/--mlmd-port`): both speak the same MLMD API, and runs/summary.py reads
both the local runner's records and the KFP v2 backend's.
"""
import dataclasses
import logging
import os
from typing import Callable, Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from recfusion.runs.summary import (RunSummary, execution_state, open_store, run_contexts,
                                   summarize_run)


def connect(metadata_path: Optional[str] = None, host: Optional[str] = None,
            port: Optional[int] = None) -> metadata_store.MetadataStore:
  if host:
    config = metadata_store_pb2.MetadataStoreClientConfig(host=host, port=port or 8080)
    return metadata_store.MetadataStore(config)
  # Opening a missing SQLite file read-only fails with a driver error that names no file.
  if not metadata_path or not os.path.exists(metadata_path):
    raise LookupError(f'{metadata_path}: no ML Metadata here')
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


def mark_abandoned(rows: List[RunRow], active_run_id: Optional[str],
                   finished: Callable[[str], bool] = lambda run_id: True) -> List[RunRow]:
  """A local run whose process is gone (killed, machine lost) is `abandoned`: ML Metadata may
  still call it running, or complete when it was killed between two components. Only the run
  holding the home lock is alive, and a run that got to its end saved its summary
  (`finished(run_id)`)."""
  def state(row: RunRow) -> str:
    if row.run_id == active_run_id:
      return row.status
    if row.status == 'running' or (row.status == 'complete' and not finished(row.run_id)):
      return 'abandoned'
    return row.status
  return [dataclasses.replace(row, status=state(row)) for row in rows]


def _summary_from_store(store, pipeline: str, run_id: str) -> RunSummary:
  """What ML Metadata says of the run, the Evaluator's TFMA result read back only for runs
  whose blessing does not carry the NDCG@10 (recorded by older versions): TFMA's import alone
  takes seconds."""
  summary = summarize_run(store, pipeline, run_id, read_evaluation=False)
  if not summary.evaluated or summary.ndcg10 is not None:
    return summary
  try:
    return summarize_run(store, pipeline, run_id)
  except Exception as e:  # pylint: disable=broad-except  (TFMA, TensorFlow's file systems)
    # The Evaluator's result may be unreadable from here (a cluster's bucket without
    # credentials): the run is still listed, without its metrics.
    logging.warning('run %s: evaluation result not readable (%s); listed without metrics',
                    run_id, e)
    return summary


def newest_run_contexts(store, pipeline: str) -> List:
  return sorted(run_contexts(store, pipeline), key=lambda c: c.create_time_since_epoch,
                reverse=True)


def list_runs(store, pipeline: str, limit: int = 10,
              saved: Callable[[str], Optional[dict]] = lambda run_id: None) -> List[RunRow]:
  """Newest first. `saved(run_id)`: the summary a finished local run kept (runs/summary.py),
  which spares reading the run's components back from ML Metadata."""
  rows = []
  for context in newest_run_contexts(store, pipeline)[:limit]:
    executions = store.get_executions_by_context(context.id)
    if not executions:
      continue
    states = {execution_state(e) for e in executions}
    status = ('failed' if 'failed' in states else
              'running' if states & {'running', 'new'} else 'complete')
    kept = saved(context.name)
    summary = RunSummary.from_dict(kept) if kept else _summary_from_store(store, pipeline,
                                                                          context.name)
    if not summary.components:
      continue
    if status == 'complete' and summary.push.get('unchanged_since'):
      status = f'nothing new since v{summary.push["unchanged_since"]}'
    rows.append(RunRow(
        run_id=context.name,
        started=min(e.create_time_since_epoch for e in executions) / 1000,
        seconds=(max(e.last_update_time_since_epoch for e in executions) -
                 min(e.create_time_since_epoch for e in executions)) / 1000,
        status=status, components={c.name: c.state for c in summary.components},
        ndcg10=summary.ndcg10,
        blessed=summary.blessed,
        pushed_version=(summary.push.get('version') or None) if summary.push.get('pushed')
        else None))
  return rows
