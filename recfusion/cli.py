"""The `recfusion` command line (DESIGN §9).

Exit codes: 0 ok, 1 the run failed, 2 bad usage or bad input (config, data contract, anomalies).
"""
import dataclasses
import json
import logging
import os
import re
import sys
import time
import warnings
from typing import Optional, Sequence

import click
from rich.console import Console
from rich.table import Table

from recfusion.config import Config, ConfigError, load_config
from recfusion.data.contract import DataContractError

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
DEFAULT_HOME = './recfusion_home'

# The stack's deprecation notices (Python 3.10 support, Beam, TF) would bury the progress.
warnings.filterwarnings('ignore', category=FutureWarning)
warnings.filterwarnings('ignore', category=DeprecationWarning)

console = Console(stderr=True, highlight=False)
_BEAM_STEP = re.compile(r" \[while running '[^']*'\]")


def _user_message(error: BaseException) -> str:
  """The message as written for the user: Beam's step annotations removed."""
  return _BEAM_STEP.sub('', str(error))


def _bad_input(error: BaseException) -> 'click.exceptions.Exit':
  console.print(f'[bold red]error:[/] {_user_message(error)}', markup=True, soft_wrap=True)
  return click.exceptions.Exit(EXIT_BAD_INPUT)


config_options = [
    click.option('--config', 'config_file', type=click.Path(dir_okay=False),
                 help='YAML file overriding the embedded defaults (any subset of keys).'),
    click.option('--set', 'overrides', multiple=True, metavar='KEY=VALUE',
                 help='Override one config key, e.g. --set data.window_spans=3 (repeatable).'),
]


def with_config_options(function):
  for option in reversed(config_options):
    function = option(function)
  return function


def _load_config(config_file: Optional[str], overrides: Sequence[str]) -> Config:
  try:
    return load_config(config_file, overrides)
  except ConfigError as e:
    raise _bad_input(e)


@click.group(context_settings={'help_option_names': ['-h', '--help'], 'max_content_width': 100})
@click.version_option(package_name='recfusion')
def main():
  """recfusion: train three ranking models on a shop's logs, fuse them, gate and push.

  Start with `recfusion run`: it generates a shop's data and runs the whole pipeline locally.
  """


@main.group()
def data():
  """Generate or check data in the input contract (see schemas/README.md)."""


@data.command('generate')
@click.option('--out', 'out_dir', required=True, type=click.Path(file_okay=False),
              help='Folder to write catalog, users, events/span-<N>/ and truth/ into.')
@click.option('--seed', type=int, help='Random seed (same seed, same data).')
@click.option('--items', 'num_items', type=click.IntRange(1), help='Catalog size.')
@click.option('--users', 'num_users', type=click.IntRange(1), help='Number of users.')
@click.option('--days', 'num_days', type=click.IntRange(1), help='Days = spans of events.')
@click.option('--requests-per-day', type=click.IntRange(1), help='Requests per day.')
@click.option('--impressions', 'impressions_per_request', type=click.IntRange(1),
              help='Items shown per request.')
@click.option('--search-share', type=click.FloatRange(0, 1),
              help='Share of search requests (the rest are recommendations).')
@click.option('--no-impression-share', type=click.FloatRange(0, 1, max_open=True),
              help='Share of requests whose log kept only positive events.')
@click.option('--format', 'file_format', type=click.Choice(['parquet', 'csv']),
              help='File format of the tables.')
@with_config_options
def data_generate(out_dir, config_file, overrides, **flags):
  """Write a seeded simulated shop (DESIGN §4) in the data contract.

  Defaults come from the `generate` section of the config; flags override them.
  """
  from recfusion.data import simulator
  config = _load_config(config_file, overrides)
  settings = dataclasses.asdict(config.generate)
  settings.update({k: v for k, v in flags.items() if v is not None})
  try:
    shop = simulator.ShopConfig(**settings)
  except ValueError as e:
    raise _bad_input(e)
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    raise _bad_input(ValueError(f'{out_dir} is not empty; choose a new folder'))
  started = time.monotonic()
  with console.status(f'simulating {shop.num_days} days of a shop...'):
    counts = simulator.generate(out_dir, shop)
  console.print(f'wrote {counts["items"]} items, {counts["users"]} users, '
                f'{counts["requests"]} requests ({counts["event_rows"]} event rows) in '
                f'{counts["spans"]} spans to {out_dir} in {time.monotonic() - started:.1f} s')


@data.command('check')
@click.argument('data_dir', type=click.Path())
@with_config_options
def data_check(data_dir, config_file, overrides):
  """Validate DATA_DIR against the data contract without running anything."""
  from recfusion.data import contract
  config = _load_config(config_file, overrides)
  spans = config.data.split.spans if config.data.split.mode == 'spans' else {}
  try:
    counts = contract.check_data_dir(
        data_dir, config.data.window_spans, sorted({s for v in spans.values() for s in v}),
        config.data.on_unknown_item)
  except DataContractError as e:
    raise _bad_input(e)
  console.print(f'ok: {counts["spans"]} spans, {counts["event_rows"]} event rows'
                + (f', {counts["skipped_unknown_item"]} events with unknown items will be '
                   'skipped' if counts['skipped_unknown_item'] else ''))


def _generated_data(config: Config, home) -> str:
  from recfusion.pipeline.local_runner import generated_data
  with console.status('generating the embedded shop data...'):
    return generated_data(config, home, console.print)


@main.command()
@click.option('--home', default=DEFAULT_HOME, show_default=True, type=click.Path(file_okay=False),
              help='Run home: pipeline root, ML Metadata, run logs.')
@click.option('--data', 'data_dir', type=click.Path(),
              help="The shop's data directory; generated data when omitted.")
@click.option('--beam-arg', 'beam_extra', multiple=True, metavar='ARG',
              help='Extra Beam pipeline argument, e.g. --beam-arg=--direct_num_workers=2.')
@click.option('--no-cache', is_flag=True, help='Re-run every component even if cached.')
@with_config_options
def run(home, data_dir, beam_extra, no_cache, config_file, overrides):
  """Run the pipeline locally (LocalDagRunner, ML Metadata in SQLite under --home)."""
  from recfusion.data import contract
  from recfusion.pipeline.local_runner import RunHome, new_run_id
  overrides = list(overrides)
  if beam_extra:
    overrides.append('beam.extra_args=' + json.dumps(list(beam_extra)))
  config = _load_config(config_file, overrides)
  run_home = RunHome(os.path.abspath(home))
  data_dir = data_dir or config.data.dir
  try:
    if data_dir is None:
      data_dir = _generated_data(config, run_home)
    spans = config.data.split.spans if config.data.split.mode == 'spans' else {}
    # Fail in seconds, before TFX is even imported, on data that breaks the contract.
    with console.status(f'checking {data_dir} against the data contract...'):
      counts = contract.check_data_dir(
          data_dir, config.data.window_spans, sorted({s for v in spans.values() for s in v}),
          config.data.on_unknown_item)
  except DataContractError as e:
    raise _bad_input(e)
  console.print(f'data: {data_dir} ({counts["spans"]} spans, {counts["event_rows"]} event rows)')
  run_id = new_run_id()
  sys.exit(_run_and_report(config, run_home, data_dir, run_id, not no_cache))


def _run_and_report(config: Config, run_home, data_dir: str, run_id: str,
                    enable_cache: bool) -> int:
  from recfusion.pipeline import local_runner
  console.print(f'run {run_id}: home {run_home.root}')
  started = time.monotonic()
  status = console.status('importing TFX...')
  status.start()

  def progress(component: str, event: str, seconds: Optional[float]) -> None:
    if event == 'running':
      status.update(f'{component} running...')
    elif event == 'finished':
      console.print(f'  [green]✔[/] {component:<22} {seconds:6.1f} s')
    else:
      console.print(f'  [red]✘[/] {component} failed')

  try:
    result = local_runner.run_pipeline(config, run_home, data_dir, progress,
                                       enable_cache=enable_cache, run_id=run_id)
  except (DataContractError, ConfigError) as e:
    status.stop()
    console.print(f'[bold red]error:[/] {_user_message(e)}', soft_wrap=True)
    console.print(f'full log: {os.path.join(run_home.run_dir(run_id), "run.log")}')
    return EXIT_BAD_INPUT
  except Exception as e:  # pylint: disable=broad-except
    status.stop()
    console.print(f'[bold red]run failed:[/] {type(e).__name__}: {_user_message(e)}',
                  soft_wrap=True)
    console.print(f'full log: {os.path.join(run_home.run_dir(run_id), "run.log")}')
    return EXIT_FAILED
  status.stop()
  _print_summary(config, run_home, result, time.monotonic() - started)
  return 0


def _print_summary(config: Config, run_home, result, wall_seconds: float) -> None:
  from recfusion.runs.summary import summarize_run
  summary = summarize_run(run_home.metadata_path, config.pipeline.name, result.run_id,
                          result.durations)
  with open(os.path.join(result.run_dir, 'summary.json'), 'w') as f:
    json.dump({**summary.to_dict(), 'wall_seconds': wall_seconds}, f, indent=2)
  table = Table(title=f'run {summary.run_id}', title_justify='left')
  for column in ('component', 'state', 'seconds'):
    table.add_column(column, justify='right' if column == 'seconds' else 'left')
  for record in summary.components:
    table.add_row(record.name, record.state,
                  f'{record.seconds:.1f}' if record.seconds is not None else '-')
  out = _stdout_console()
  out.print(table)
  report = summary.join_report
  if report:
    out.print(f'data: spans {report["spans"]}, {report["requests"]} requests, examples '
              + ', '.join(f'{s} {report[f"examples_{s}"]}' for s in ('train', 'validation',
                                                                       'eval')))
    notes = []
    if report.get('requests_without_impressions'):
      notes.append(f'{report["requests_without_impressions"]} requests logged no impressions: '
                   f'{report["sampled_negatives"]} catalog negatives sampled')
    if report.get('skipped_unknown_item_events'):
      notes.append(f'{report["skipped_unknown_item_events"]} events skipped: item not in '
                   'the catalog (data.on_unknown_item=skip)')
    if report.get('requests_outside_splits'):
      notes.append(f'{report["requests_outside_splits"]} requests in spans outside '
                   'data.split.spans were left out')
    for note in notes:
      out.print(f'  note: {note}')
  _print_models(out, summary)
  _print_verdict(out, config, summary)
  out.print(f'wall time {wall_seconds:.0f} s; summary and full log: {result.run_dir}/')


@main.command()
@click.option('--model', default='latest', show_default=True,
              help="A registry version number, 'latest', or a SavedModel folder.")
@click.option('--input', 'input_file', required=True, type=click.Path(dir_okay=False),
              help='JSON lines, one request each (see recfusion/predict.py for the format).')
@click.option('--data', 'data_dir', type=click.Path(file_okay=False),
              help='Data directory whose catalog (and users) resolve candidate ids.')
@click.option('--top', type=click.IntRange(1), help='Print only the best N candidates.')
@click.option('--home', default=DEFAULT_HOME, show_default=True,
              type=click.Path(file_okay=False), help='Run home holding the registry.')
@with_config_options
def predict(model, input_file, data_dir, top, home, config_file, overrides):
  """Rank each request's candidates with a pushed model; JSON lines on stdout."""
  from recfusion import predict as predicting
  from recfusion.data import join
  from recfusion.data import contract
  from recfusion.pipeline.local_runner import RunHome
  config = _load_config(config_file, overrides)
  catalog, segments = {}, {}
  try:
    model_path = predicting.resolve_model(model, RunHome(os.path.abspath(home)).registry_dir(
        config))
    if data_dir:
      layout = contract.discover(data_dir)
      frame = contract.load_catalog(layout.catalog_file)
      catalog = {r.item_id: join.CatalogItem(r.title, r.category, r.brand, float(r.price))
                 for r in frame.itertuples()}
      users = contract.load_users(layout.users_file)
      segments = dict(zip(users['user_id'], users['segment']))
    if not os.path.isfile(input_file):
      raise DataContractError(f'{input_file}: no such file')
    for ranked in predicting.rank(model_path, predicting.read_requests(input_file), input_file,
                                  catalog, segments, top):
      click.echo(json.dumps(ranked))
  except DataContractError as e:
    raise _bad_input(e)


@main.command('compile')
@click.option('--target', type=click.Choice(['kubeflow']), default='kubeflow', show_default=True,
              help='Orchestrator to compile for (open-source Kubeflow Pipelines v2).')
@click.option('--image', required=True,
              help='Pipeline image built from the Dockerfile, e.g. registry.example/recfusion:1.')
@click.option('--pipeline-root', required=True,
              help='Artifact root the cluster writes to (gs://, s3:// or a mounted path).')
@click.option('--output', 'output_dir', default='build/kubeflow', show_default=True,
              type=click.Path(file_okay=False), help='Folder for pipeline_job.json and '
              'pipeline.yaml.')
@with_config_options
def compile_command(target, image, pipeline_root, output_dir, config_file, overrides):
  """Compile the DAG for a cluster; needs no network and no credentials.

  data.dir must be set (--set data.dir=...) to the data folder as the cluster sees it.
  Resources, GPUs, node selectors and tolerations come from the `kubeflow` config section.
  """
  from recfusion.pipeline import kubeflow_runner
  config = _load_config(config_file, overrides)
  try:
    with console.status('compiling...'):
      paths = kubeflow_runner.compile_pipeline(config, image, pipeline_root, output_dir)
  except ValueError as e:
    raise _bad_input(e)
  console.print(f'pipeline job: {paths["job"]}\npipeline for kfp.Client: {paths["pipeline"]}')


kfp_options = [
    click.option('--host', required=True, help='Kubeflow Pipelines API endpoint, e.g. '
                 'http://ml-pipeline-ui.kubeflow or https://HOST/pipeline.'),
    click.option('--token-file', type=click.Path(dir_okay=False),
                 help='File holding a bearer token (else $RECFUSION_KFP_TOKEN; never a flag '
                 'value, so it stays out of shell history).'),
    click.option('--namespace', default='kubeflow', show_default=True,
                 help='KFP namespace (multi-user clusters).'),
]
package_option = click.option(
    '--package', default='build/kubeflow/pipeline.yaml', show_default=True,
    type=click.Path(dir_okay=False), help='Compiled pipeline (recfusion compile --output).')


def with_kfp_options(function):
  for option in reversed(kfp_options):
    function = option(function)
  return function


def _pipelines(host, token_file, namespace):
  from recfusion.pipeline import kubeflow_client
  return kubeflow_client.Pipelines(host, kubeflow_client.read_token(token_file), namespace)


def _kfp_call(action):
  """Runs a KFP action; cluster failures are one line and exit code 1."""
  from recfusion.pipeline.kubeflow_client import KubeflowError
  try:
    return action()
  except KubeflowError as e:
    console.print(f'[bold red]error:[/] {e}', soft_wrap=True)
    raise click.exceptions.Exit(EXIT_FAILED)


def _require_package(package: str) -> str:
  if not os.path.isfile(package):
    raise _bad_input(ValueError(f'{package}: no compiled pipeline; run `recfusion compile '
                                '--target kubeflow ...` first (or pass --package)'))
  return package


@main.command()
@with_kfp_options
@package_option
@click.option('--experiment', default='recfusion', show_default=True)
@click.option('--run-name', default=None, help='Default: recfusion-<UTC time>.')
def submit(host, token_file, namespace, package, experiment, run_name):
  """Start one run of the compiled pipeline on a Kubeflow Pipelines cluster."""
  import datetime
  _require_package(package)
  run_name = run_name or 'recfusion-' + datetime.datetime.utcnow().strftime('%Y%m%d-%H%M%S')
  run_id = _kfp_call(lambda: _pipelines(host, token_file, namespace).submit(
      package, experiment, run_name))
  console.print(f'submitted run {run_id} ({run_name}) in experiment {experiment} at {host}')


@main.group()
def schedule():
  """Recurring runs (retraining on a schedule) on a Kubeflow Pipelines cluster."""


@schedule.command('create')
@with_kfp_options
@package_option
@click.option('--cron', required=True, help="When to run, e.g. '0 3 * * *' (daily 03:00); "
              '5 fields, or 6 with seconds first.')
@click.option('--max-concurrency', default=1, show_default=True, type=click.IntRange(1))
@click.option('--name', default='recfusion-retrain', show_default=True)
@click.option('--experiment', default='recfusion', show_default=True)
def schedule_create(host, token_file, namespace, package, cron, max_concurrency, name,
                    experiment):
  """Create a recurring run of the compiled pipeline."""
  _require_package(package)
  recurring_id = _kfp_call(lambda: _pipelines(host, token_file, namespace).schedule(
      package, experiment, name, cron, max_concurrency))
  console.print(f'scheduled {name} ({recurring_id}): {cron}, at most {max_concurrency} at once')


@schedule.command('list')
@with_kfp_options
@click.option('--experiment', default=None, help='Only this experiment.')
@click.option('--json', 'as_json', is_flag=True, help='One JSON object per schedule.')
def schedule_list(host, token_file, namespace, experiment, as_json):
  """List recurring runs."""
  rows = _kfp_call(lambda: _pipelines(host, token_file, namespace).schedules(experiment))
  if as_json:
    for row in rows:
      click.echo(json.dumps(row))
    return
  table = Table(title=f'recurring runs at {host}', title_justify='left')
  for column in ('id', 'name', 'cron', 'max_concurrency', 'status'):
    table.add_column(column)
  for row in rows:
    table.add_row(*(str(row[c]) for c in ('id', 'name', 'cron', 'max_concurrency', 'status')))
  _stdout_console().print(table)


@schedule.command('delete')
@with_kfp_options
@click.argument('recurring_run_id')
def schedule_delete(host, token_file, namespace, recurring_run_id):
  """Delete a recurring run by id."""
  _kfp_call(lambda: _pipelines(host, token_file, namespace).unschedule(recurring_run_id))
  console.print(f'deleted recurring run {recurring_run_id}')


home_option = click.option('--home', default=DEFAULT_HOME, show_default=True,
                           type=click.Path(file_okay=False), help='Run home.')


def _store(home: str, host: Optional[str] = None, port: Optional[int] = None):
  from recfusion.runs import metadata
  from recfusion.pipeline.local_runner import RunHome
  path = RunHome(os.path.abspath(home)).metadata_path
  if not host and not os.path.exists(path):
    raise _bad_input(ValueError(f'{path}: no ML Metadata here; run `recfusion run` first or '
                                'pass --home'))
  return metadata.connect(path, host, port)


@main.command()
@click.option('--run', 'run_id', help='Run id (default: the latest run with an evaluation).')
@click.option('--out', 'out_file', type=click.Path(dir_okay=False),
              help='Output file (default for html: <home>/runs/<run>/report.html).')
@click.option('--format', 'fmt', type=click.Choice(['html', 'text', 'markdown']),
              default='html', show_default=True)
@home_option
@with_config_options
def report(run_id, out_file, fmt, home, config_file, overrides):
  """Model-analysis report of a run: verdict, metrics by slice, plots, fusion, data.

  html is one self-contained page (charts inlined, no network); text prints rich tables; markdown
  suits pull requests. html also prints the text summary.
  """
  from recfusion.runs import metadata
  from recfusion.pipeline.local_runner import RunHome
  from recfusion.report import collect, render
  # TFMA's readers warn about deprecated TF APIs on every load; not the user's concern.
  logging.getLogger('tensorflow').setLevel(logging.ERROR)
  config = _load_config(config_file, overrides)
  store = _store(home)
  run_home = RunHome(os.path.abspath(home))
  if run_id is None:
    rows = metadata.list_runs(store, config.pipeline.name, limit=50)
    rows = [r for r in rows if r.ndcg10 is not None]
    if not rows:
      raise _bad_input(ValueError(f'{run_home.metadata_path}: no run with an evaluation yet'))
    run_id = rows[0].run_id
  try:
    data = collect.from_run(store, config.pipeline.name, run_id, run_home.run_dir(run_id))
  except LookupError as e:
    raise _bad_input(e)
  if fmt == 'text':
    render.text(data, _stdout_console())
    return
  content = render.render(data, fmt)
  if fmt == 'markdown' and not out_file:
    click.echo(content)
    return
  out_file = out_file or os.path.join(run_home.run_dir(run_id), 'report.html')
  with open(out_file, 'w') as f:
    f.write(content)
  if fmt == 'html':
    render.text(data, _stdout_console())
  console.print(f'report: {out_file}')


@main.command()
@click.option('--limit', default=10, show_default=True, type=click.IntRange(1))
@click.option('--json', 'as_json', is_flag=True, help='One JSON object per run.')
@click.option('--mlmd-host', help='ML Metadata gRPC host (a KFP cluster) instead of --home.')
@click.option('--mlmd-port', type=int, default=8080, show_default=True)
@home_option
@with_config_options
def runs(limit, as_json, mlmd_host, mlmd_port, home, config_file, overrides):
  """Runs recorded in ML Metadata, newest first."""
  import datetime
  from recfusion.runs import metadata
  config = _load_config(config_file, overrides)
  rows = metadata.list_runs(_store(home, mlmd_host, mlmd_port), config.pipeline.name,
                                    limit)
  if as_json:
    for row in rows:
      click.echo(json.dumps(dataclasses.asdict(row)))
    return
  table = Table(title=f'runs of {config.pipeline.name}', title_justify='left')
  for column in ('run', 'started (UTC)', 'seconds', 'status', 'components', 'NDCG@10',
                 'blessed', 'pushed'):
    table.add_column(column, no_wrap=column in ('run', 'started (UTC)'))
  for row in rows:
    states = sorted(set(row.components.values()))
    table.add_row(row.run_id,
                  datetime.datetime.utcfromtimestamp(row.started).strftime('%Y-%m-%d %H:%M'),
                  f'{row.seconds:.0f}', row.status,
                  ', '.join(f'{sum(v == s for v in row.components.values())} {s}'
                            for s in states),
                  _fmt(row.ndcg10), {True: 'yes', False: 'no', None: '-'}[row.blessed],
                  row.pushed_version or '-')
  _stdout_console().print(table)


@main.command()
@click.argument('target')
@home_option
@with_config_options
def lineage(target, home, config_file, overrides):
  """Trace a pushed model (registry VERSION, or an artifact URI) back to its data spans."""
  from rich.tree import Tree
  from recfusion import registry as model_registry
  from recfusion.runs import metadata
  from recfusion.pipeline.local_runner import RunHome
  config = _load_config(config_file, overrides)
  store = _store(home)
  if target.isdigit():
    directory = RunHome(os.path.abspath(home)).registry_dir(config)
    record = model_registry.find(directory, int(target))
    if record is None:
      raise _bad_input(ValueError(f'{directory}: no version {target} in the registry'))
    artifact = metadata.find_pushed(store, record.path)
    title = f'registry version {record.version} ({record.path}), run {record.run_id}'
  else:
    artifact = metadata.find_by_uri(store, os.path.abspath(target))
    title = target
  if artifact is None:
    raise _bad_input(ValueError(f'{target}: no such artifact in ML Metadata'))
  root = metadata.trace(store, artifact.id)

  def add(tree, node, key=''):
    label = f'[bold]{node.artifact_type}[/]' + (f' ({key})' if key else '')
    if node.producer:
      label += f' from [cyan]{node.producer}[/] [{node.producer_state}]'
    details = {**node.producer_properties, **{k: v for k, v in node.properties.items()
                                              if k in ('spans', 'pushed_version', 'span',
                                                       'registry_version', 'fusion_method',
                                                       'blessed', 'found')}}
    if details:
      label += ' ' + ', '.join(f'{k}={v}' for k, v in sorted(details.items()))
    branch = tree.add(label + f'\n[dim]{node.uri}[/]')
    for input_key, nodes in sorted(node.inputs.items()):
      for child in nodes:
        add(branch, child, input_key)

  tree = Tree(title)
  add(tree, root)
  _stdout_console().print(tree)


def _stdout_console() -> Console:
  # Piped output (files, CI logs) gets room for whole run ids instead of a terminal's 80.
  return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _fmt(value) -> str:
  return f'{value:.4f}' if isinstance(value, (int, float)) else '-'


def _print_models(out: Console, summary) -> None:
  fusion = summary.fusion
  if not fusion:
    return
  eval_metrics = summary.evaluation.get('metrics', {})
  from recfusion.report import tables
  table = Table(title=f'models (fusion: {fusion.get("method")})', title_justify='left')
  for column in tables.MODEL_COLUMNS:
    table.add_column(column, justify='left' if column == 'model' else 'right')
  eval_ndcg10 = {name: eval_metrics.get('score' if name == 'fused' else name, {}).get('ndcg@10')
                 for name in fusion.get('metrics', {})}
  for row in tables.model_rows(fusion, eval_ndcg10):
    table.add_row(*row)
  out.print(table)
  fused = eval_metrics.get('score', {})
  probability = eval_metrics.get('probability', {})
  out.print('fused model on eval: ' + ', '.join(
      f'{name} {_fmt(value)}' for name, value in (
          ('NDCG@5', fused.get('ndcg@5')), ('NDCG@10', fused.get('ndcg@10')),
          ('NDCG@20', fused.get('ndcg@20')), ('MRR', fused.get('mrr')),
          ('AUC', probability.get('auc')), ('calibration', probability.get('calibration')))))


def _print_verdict(out: Console, config: Config, summary) -> None:
  evaluation = summary.evaluation
  if 'blessed' not in evaluation:
    return
  ndcg = evaluation.get('metrics', {}).get('score', {}).get('ndcg@10')
  baseline = evaluation.get('baseline_metrics', {}).get('score', {}).get('ndcg@10')
  gate = (f'NDCG@10 {_fmt(ndcg)} vs floor {config.evaluation.ndcg10_floor:g}')
  if evaluation.get('baseline_version') is not None:
    gate += (f'; baseline (registry version {evaluation["baseline_version"]}) {_fmt(baseline)},'
             f' tolerance {config.evaluation.tolerance:g}')
  else:
    gate += '; no model in production yet, so no baseline comparison'
  if evaluation['blessed']:
    out.print(f'[green]blessed[/]: {gate}')
  else:
    out.print(f'[red]not blessed[/]: {gate}')
    for reason in evaluation.get('failed_thresholds', []):
      out.print(f'  failed: {reason}')
  push = summary.push
  if push.get('pushed'):
    out.print(f'pushed version {push["version"]}: {push["path"]}')
  else:
    out.print('not pushed: the model was not blessed' if not evaluation['blessed']
              else 'not pushed')


if __name__ == '__main__':
  main()
