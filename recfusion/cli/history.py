"""Commands that read what runs left in ML Metadata: `runs`, `report`, `lineage`."""
import dataclasses
import datetime
import json
import logging
import os

import click
from rich.table import Table

from recfusion.cli import common
from recfusion.cli.common import console
from recfusion.registry import RegistryError

_RUN_COLUMNS = ('run', 'started (UTC)', 'seconds', 'status', 'components', 'NDCG@10',
                'blessed', 'pushed')


def _store(home: str, host=None, port=None):
  from recfusion.runs import metadata
  try:
    return metadata.connect(common.run_home(home).metadata_path, host, port)
  except LookupError as e:
    raise common.bad_input(ValueError(f'{e}; run `recfusion run` first or pass --home'))


@click.command()
@click.option('--run', 'run_id', help='Run id (default: the latest run with an evaluation).')
@click.option('--out', 'out_file', type=click.Path(dir_okay=False),
              help='Output file (default for html: <home>/runs/<run>/report.html).')
@click.option('--format', 'fmt', type=click.Choice(['html', 'text', 'markdown']),
              default='html', show_default=True)
@common.home_option()
@common.with_config_options
def report(run_id, out_file, fmt, home, config_file, overrides):
  """Model-analysis report of a run: verdict, metrics by slice, plots, fusion, data.

  html is one self-contained page (charts inlined, no network); text prints rich tables; markdown
  suits pull requests. html also prints the text summary.
  """
  from recfusion.report import data as report_data, text
  from recfusion.runs import selection
  config = common.config_from(config_file, overrides)
  store = _store(home)
  run_home = common.run_home(home)
  run_id = run_id or selection.latest_evaluated_run(store, config.pipeline.name)
  if run_id is None:
    raise common.bad_input(ValueError(f'{run_home.metadata_path}: no run with an evaluation '
                                      'yet'))
  # A finished local run kept its report; others (killed, from before, on a cluster) are read
  # from TFMA's result, which needs TensorFlow.
  data = report_data.load(run_home.run_dir(run_id))
  if data is None:
    from recfusion.report import collect
    # TFMA's readers warn about deprecated TF APIs on every load; not the user's concern.
    logging.getLogger('tensorflow').setLevel(logging.ERROR)
    try:
      data = collect.from_run(store, config.pipeline.name, run_id, run_home.run_dir(run_id),
                              run_home.registry_dir(config))
    except LookupError as e:
      raise common.bad_input(e)
  if fmt == 'text':
    text.write(data, common.stdout_console())
    return
  from recfusion.report import render
  content = render.render(data, fmt)
  if fmt == 'markdown' and not out_file:
    click.echo(content)
    return
  out_file = out_file or os.path.join(run_home.run_dir(run_id), 'report.html')
  with open(out_file, 'w') as f:
    f.write(content)
  if fmt == 'html':
    text.write(data, common.stdout_console())
  console.print(f'report: {out_file}')


def _metric(value) -> str:
  return f'{value:.4f}' if isinstance(value, (int, float)) else '-'


@click.command()
@click.option('--limit', default=10, show_default=True, type=click.IntRange(1))
@click.option('--json', 'as_json', is_flag=True, help='One JSON object per run.')
@click.option('--mlmd-host', help='ML Metadata gRPC host (a KFP cluster) instead of --home.')
@click.option('--mlmd-port', type=int, default=8080, show_default=True)
@common.home_option()
@common.with_config_options
def runs(limit, as_json, mlmd_host, mlmd_port, home, config_file, overrides):
  """Runs recorded in ML Metadata, newest first."""
  from recfusion.runs import metadata, summary
  config = common.config_from(config_file, overrides)
  store = _store(home, mlmd_host, mlmd_port)
  if mlmd_host:
    rows = metadata.list_runs(store, config.pipeline.name, limit)
  else:
    run_home = common.run_home(home)
    saved = lambda run_id: summary.load_saved(run_home.run_dir(run_id))
    rows = metadata.list_runs(store, config.pipeline.name, limit, saved=saved)
    # Locally the home lock tells which run is alive, the saved summary which one finished.
    rows = metadata.mark_abandoned(rows, run_home.active_run_id(),
                                   finished=lambda run_id: saved(run_id) is not None)
  if as_json:
    for row in rows:
      click.echo(json.dumps(dataclasses.asdict(row)))
    return
  table = Table(title=f'runs of {config.pipeline.name}', title_justify='left')
  for column in _RUN_COLUMNS:
    table.add_column(column, no_wrap=column in ('run', 'started (UTC)'))
  for row in rows:
    states = sorted(set(row.components.values()))
    table.add_row(row.run_id,
                  datetime.datetime.utcfromtimestamp(row.started).strftime('%Y-%m-%d %H:%M'),
                  f'{row.seconds:.0f}', row.status,
                  ', '.join(f'{sum(v == s for v in row.components.values())} {s}'
                            for s in states),
                  _metric(row.ndcg10), {True: 'yes', False: 'no', None: '-'}[row.blessed],
                  row.pushed_version or '-')
  common.stdout_console().print(table)


@click.command()
@click.argument('target')
@common.home_option()
@common.with_config_options
def lineage(target, home, config_file, overrides):
  """Trace a pushed model (registry VERSION, or an artifact URI) back to its data spans."""
  from recfusion.runs import lineage as tracing
  config = common.config_from(config_file, overrides)
  store = _store(home)
  try:
    title, root = tracing.trace_target(store, target, common.run_home(home).registry_dir(config))
  except LookupError as e:
    raise common.bad_input(e)
  except RegistryError as e:
    raise common.failed(e)
  common.stdout_console().print(tracing.as_tree(title, root))


COMMANDS = (report, runs, lineage)
