"""Which run a command means when the user names none."""
from typing import Optional

from recfusion.runs import metadata
from recfusion.runs.summary import summarize_run


def latest_evaluated_run(store, pipeline: str) -> Optional[str]:
  """The newest run with an Evaluator result: the one `recfusion report` shows by default.
  Decided from ML Metadata alone (the result itself is not read), so it costs milliseconds
  per run looked at, and runs that stopped earlier are passed over."""
  for context in metadata.newest_run_contexts(store, pipeline):
    if summarize_run(store, pipeline, context.name, read_evaluation=False).evaluated:
      return context.name
  return None
