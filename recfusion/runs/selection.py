"""Which run a command means when the user names none."""
from typing import Optional

from recfusion.runs import metadata

# Runs that stopped before the Evaluator are skipped; looking this far back bounds the cost of
# summarizing each one.
_LOOK_BACK = 50


def latest_evaluated_run(store, pipeline: str) -> Optional[str]:
  """The newest run with an evaluation: the one `recfusion report` shows by default."""
  for row in metadata.list_runs(store, pipeline, limit=_LOOK_BACK):
    if row.ndcg10 is not None:
      return row.run_id
  return None
