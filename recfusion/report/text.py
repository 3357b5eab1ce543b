"""The report on a terminal: the closing summary of `recfusion run` and
`recfusion report --format text` are this one rendering."""
from typing import List, Sequence

from rich.console import Console
from rich.table import Table

from recfusion.report import tables
from recfusion.report.data import ReportData


def _table(title: str, header: Sequence[str], rows: List[List[str]]) -> Table:
  # A title wider than its table would wrap, and a wrapped title cannot be searched for.
  table = Table(title=title, title_justify='left', min_width=len(title))
  for i, column in enumerate(header):
    # The first column names the row (a slice, a model): never cut, the numbers wrap first.
    table.add_column(column, justify='left' if i == 0 else 'right', no_wrap=i == 0)
  for row in rows:
    table.add_row(*row)
  return table


def write(report: ReportData, console: Console) -> None:
  colour = 'green' if report.blessed else 'red'
  run_id = report.run.run_id
  console.print(f'[bold {colour}]{tables.verdict_line(report)}[/]' +
                (f'  (run {run_id})' if run_id else ''))
  if report.run.components:
    console.print(_table('components', tables.COMPONENT_COLUMNS, tables.component_rows(report)))
  data = tables.data_line(report)
  if data:
    console.print(data, markup=False)
  for note in tables.data_notes(report):
    console.print(f'  note: {note}', markup=False)
  if report.thresholds:
    console.print(_table('gate', tables.THRESHOLD_COLUMNS, tables.threshold_rows(report)))
  if report.checks:
    console.print(_table('gate checks', tables.CHECK_COLUMNS, tables.check_rows(report)))
  if report.slices:
    console.print(_table(f'candidate vs baseline ({tables.baseline_title(report)})',
                         tables.HEADLINE_COLUMNS, tables.headline_rows(report)))
  if report.run.fusion:
    console.print(_table(f'fusion ({report.run.fusion.get("method")})', tables.MODEL_COLUMNS,
                         tables.fusion_rows(report)))
    for note in tables.fusion_notes(report.run.fusion):
      console.print(f'  {note}', markup=False)
  if report.slices:
    console.print(_table('by slice (eval)', tables.slice_header(report, compact=True),
                         tables.slice_rows(report, compact=True)))
  if report.training:
    console.print(_table('training', tables.TRAINING_COLUMNS, tables.training_rows(report)))
  history = tables.history_rows(report)
  if history:
    # The newest versions: the whole history is on the HTML page.
    console.print(_table('NDCG@10 across registry versions', tables.HISTORY_COLUMNS,
                         history[-5:]))
  drift = tables.drift_line(report)
  if drift:
    console.print(drift, markup=False)
  if report.anomalies:
    console.print('anomalies: ' + '; '.join(report.anomalies), markup=False)
  push = tables.push_line(report)
  if push:
    console.print(push, markup=False)
