"""Commands for a Kubeflow Pipelines cluster: `compile`, `submit [--watch]`, `status`,
`schedule create/list/pause/resume/delete`."""
import dataclasses
import json
import os

import click
from rich.markup import escape
from rich.table import Table

from recfusion.cli import common
from recfusion.cli.common import console

_KFP_OPTIONS = [
    click.option('--host', required=True, help='Kubeflow Pipelines API endpoint, e.g. '
                 'http://ml-pipeline-ui.kubeflow or https://HOST/pipeline.'),
    click.option('--token-file', type=click.Path(dir_okay=False),
                 help='File holding a bearer token (else $RECFUSION_KFP_TOKEN; never a flag '
                 'value, so it stays out of shell history).'),
    click.option('--namespace', default='kubeflow', show_default=True,
                 help='KFP namespace (multi-user clusters).'),
    click.option('--insecure', is_flag=True,
                 help='Allow sending the token over plain http:// to a host other than this '
                      'machine (it can be read on the way).'),
]
_package_option = click.option(
    '--package', default='build/kubeflow/pipeline.yaml', show_default=True,
    type=click.Path(dir_okay=False), help='Compiled pipeline (recfusion compile --output).')
_SCHEDULE_COLUMNS = ('id', 'name', 'cron', 'max_concurrency', 'status')
_param_option = click.option(
    '--param', 'params', multiple=True, metavar='NAME=VALUE',
    help='A runtime parameter of the compiled pipeline for this run (repeatable): data_dir, '
         'window_spans, ndcg10_floor, tolerance, <ranker>_epochs. Unset ones keep the '
         'compiled config\'s values.')


def _arguments(package: str, params) -> dict:
  """--param values typed as the package declares them; a bad one is bad usage (exit 2),
  known before any network call."""
  from recfusion.pipeline import kubeflow_runner, parameters
  given = {}
  for item in params:
    name, separator, value = item.partition('=')
    if not separator or not name:
      raise common.bad_input(ValueError(f'--param {item!r}: expected NAME=VALUE'))
    given[name.strip()] = value.strip()
  declared = {name: d.get('parameterType', 'STRING')
              for name, d in kubeflow_runner.read_declared_parameters(package).items()}
  try:
    return parameters.typed_arguments(declared, given)
  except ValueError as e:
    raise common.bad_input(e)


def _with_kfp_options(function):
  for option in reversed(_KFP_OPTIONS):
    function = option(function)
  return function


def _pipelines(host, token_file, namespace, insecure=False):
  """The client, after the checks that need no network: a readable token, a safe transport
  (both bad usage: exit 2)."""
  from recfusion.pipeline import kubeflow_client
  try:
    token = kubeflow_client.read_token(token_file)
    kubeflow_client.check_transport(host, token, insecure)
  except (kubeflow_client.KubeflowError, ValueError) as e:
    raise common.bad_input(e)
  return kubeflow_client.Pipelines(host, token, namespace)


def _kfp_call(action):
  """Runs a KFP action; cluster failures are one line and exit code 1."""
  from recfusion.pipeline.kubeflow_client import KubeflowError
  try:
    return action()
  except KubeflowError as e:
    console.print(f'[bold red]error:[/] {e}', soft_wrap=True)
    raise click.exceptions.Exit(common.EXIT_FAILED)


def _require_package(package: str) -> str:
  if not os.path.isfile(package):
    raise common.bad_input(ValueError(f'{package}: no compiled pipeline; run `recfusion compile '
                                      '--target kubeflow ...` first (or pass --package)'))
  return package


@click.command('compile')
@click.option('--target', type=click.Choice(['kubeflow']), default='kubeflow', show_default=True,
              help='Orchestrator to compile for (open-source Kubeflow Pipelines v2).')
@click.option('--image', required=True,
              help='Pipeline image built from the Dockerfile, e.g. registry.example/recfusion:1.')
@click.option('--pipeline-root', required=True,
              help='Artifact root the cluster writes to (gs://, s3:// or a mounted path).')
@click.option('--output', 'output_dir', default='build/kubeflow', show_default=True,
              type=click.Path(file_okay=False), help='Folder for pipeline_job.json and '
              'pipeline.yaml.')
@common.with_config_options
def compile_command(target, image, pipeline_root, output_dir, config_file, overrides):
  """Compile the DAG for a cluster; needs no network and no credentials.

  data.dir must be set (--set data.dir=...) to the data folder as the cluster sees it.
  Resources, GPUs, node selectors and tolerations come from the `kubeflow` config section.
  """
  from recfusion.pipeline import kubeflow_runner
  config = common.config_from(config_file, overrides)
  try:
    with console.status('compiling...'):
      paths = kubeflow_runner.compile_pipeline(config, image, pipeline_root, output_dir)
  except ValueError as e:
    raise common.bad_input(e)
  console.print(f'pipeline job: {paths["job"]}\npipeline for kfp.Client: {paths["pipeline"]}')


def _print_change(previous, current) -> None:
  """One line per task that changed state, then the run's state when it changed."""
  before = {t.name: t.state for t in previous.tasks}
  for task in current.tasks:
    if before.get(task.name) != task.state:
      detail = f': {task.error}' if task.error else ''
      console.print(f'  {_STATE_MARKS.get(task.state, "·")} {escape(task.name):<24} '
                    f'{task.state}{escape(detail)}', soft_wrap=True)
  if previous.state != current.state:
    console.print(f'run {current.run_id}: {current.state}')


_STATE_MARKS = {'SUCCEEDED': '[green]✔[/]', 'SKIPPED': '[green]✔[/]', 'FAILED': '[red]✘[/]',
                'CANCELED': '[red]✘[/]', 'RUNNING': '▶'}


def _watch_exit_code(final) -> int:
  """0 when the run succeeded; 1 for a failed or canceled run, with the failed tasks named."""
  if final.succeeded:
    return 0
  failed = [t for t in final.tasks if t.state in ('FAILED', 'CANCELED')]
  reasons = '; '.join(f'{t.name}: {t.error or t.state}' for t in failed) or final.error
  console.print(f'[bold red]run {final.run_id} {final.state}[/]'
                + (f': {escape(reasons)}' if reasons else ''), soft_wrap=True)
  return common.EXIT_FAILED


_watch_options = [
    click.option('--poll-seconds', default=15.0, show_default=True, type=click.FloatRange(0.1),
                 help='Seconds between status requests.'),
    click.option('--timeout', 'timeout_seconds', type=click.FloatRange(1), default=None,
                 help='Give up watching after this many seconds (exit 1; the run goes on).'),
]


def _with_watch_options(function):
  for option in reversed(_watch_options):
    function = option(function)
  return function


@click.command()
@_with_kfp_options
@_package_option
@click.option('--experiment', default='recfusion', show_default=True)
@click.option('--run-name', default=None, help='Default: recfusion-<UTC time>.')
@_param_option
@click.option('--watch', is_flag=True,
              help='Follow the run until it ends, a line per task; exit 0 if it succeeded, '
                   '1 if it failed or was canceled.')
@_with_watch_options
def submit(host, token_file, namespace, insecure, package, experiment, run_name, params, watch,
           poll_seconds, timeout_seconds):
  """Start one run of the compiled pipeline on a Kubeflow Pipelines cluster."""
  import datetime
  _require_package(package)
  arguments = _arguments(package, params)
  run_name = run_name or 'recfusion-' + datetime.datetime.utcnow().strftime('%Y%m%d-%H%M%S')
  pipelines = _kfp_call(lambda: _pipelines(host, token_file, namespace, insecure))
  run_id = _kfp_call(lambda: pipelines.submit(package, experiment, run_name, arguments))
  console.print(f'submitted run {run_id} ({run_name}) in experiment {experiment} at {host}',
                soft_wrap=True)
  if watch:
    final = _kfp_call(lambda: pipelines.watch(run_id, _print_change, poll_seconds,
                                              timeout_seconds))
    raise click.exceptions.Exit(_watch_exit_code(final))


@click.command()
@_with_kfp_options
@click.argument('run_id')
@click.option('--watch', is_flag=True, help='Follow the run until it ends (exit code as '
              '`submit --watch`).')
@_with_watch_options
@click.option('--json', 'as_json', is_flag=True, help='The run and its tasks as one JSON object.')
def status(host, token_file, namespace, insecure, run_id, watch, poll_seconds, timeout_seconds,
           as_json):
  """State of one run on the cluster and of each of its tasks."""
  pipelines = _kfp_call(lambda: _pipelines(host, token_file, namespace, insecure))
  if watch:
    final = _kfp_call(lambda: pipelines.watch(run_id, _print_change, poll_seconds,
                                              timeout_seconds))
    raise click.exceptions.Exit(_watch_exit_code(final))
  run = _kfp_call(lambda: pipelines.run(run_id))
  if as_json:
    click.echo(json.dumps(dataclasses.asdict(run), sort_keys=True))
    return
  out = common.stdout_console()
  out.print(f'run {escape(run.run_id)} ({escape(run.name)}): {run.state}'
            + (f', finished {run.finished}' if run.done and run.finished else '')
            + (f': {escape(run.error)}' if run.error else ''), soft_wrap=True)
  table = Table(title_justify='left')
  for column in ('task', 'state', 'started', 'finished', 'error'):
    table.add_column(column, no_wrap=column != 'error')
  for task in run.tasks:
    table.add_row(escape(task.name), task.state, task.started, task.finished,
                  escape(task.error))
  if run.tasks:
    out.print(table)


@click.group()
def schedule():
  """Recurring runs (retraining on a schedule) on a Kubeflow Pipelines cluster."""


@schedule.command('create')
@_with_kfp_options
@_package_option
@click.option('--cron', required=True, help="When to run, e.g. '0 3 * * *' (daily 03:00); "
              '5 fields, or 6 with seconds first.')
@click.option('--max-concurrency', default=1, show_default=True, type=click.IntRange(1))
@click.option('--name', default='recfusion-retrain', show_default=True)
@click.option('--experiment', default='recfusion', show_default=True)
@_param_option
def schedule_create(host, token_file, namespace, insecure, package, cron, max_concurrency, name,
                    experiment, params):
  """Create a recurring run of the compiled pipeline."""
  from recfusion.pipeline.kubeflow_client import KubeflowError, kfp_cron
  _require_package(package)
  arguments = _arguments(package, params)
  try:
    kfp_cron(cron)  # a malformed --cron is bad usage, known before any network call
  except KubeflowError as e:
    raise common.bad_input(e)
  recurring_id = _kfp_call(lambda: _pipelines(host, token_file, namespace, insecure).schedule(
      package, experiment, name, cron, max_concurrency, arguments))
  console.print(f'scheduled {name} ({recurring_id}): {cron}, at most {max_concurrency} at once')


@schedule.command('list')
@_with_kfp_options
@click.option('--experiment', default=None, help='Only this experiment.')
@click.option('--json', 'as_json', is_flag=True, help='One JSON object per schedule.')
def schedule_list(host, token_file, namespace, insecure, experiment, as_json):
  """List recurring runs."""
  rows = _kfp_call(lambda: _pipelines(host, token_file, namespace, insecure).schedules(experiment))
  if as_json:
    for row in rows:
      click.echo(json.dumps(row))
    return
  table = Table(title=f'recurring runs at {host}', title_justify='left')
  for column in _SCHEDULE_COLUMNS:
    table.add_column(column)
  for row in rows:
    table.add_row(*(str(row[c]) for c in _SCHEDULE_COLUMNS))
  common.stdout_console().print(table)


@schedule.command('delete')
@_with_kfp_options
@click.argument('recurring_run_id')
def schedule_delete(host, token_file, namespace, insecure, recurring_run_id):
  """Delete a recurring run by id."""
  _kfp_call(lambda: _pipelines(host, token_file, namespace, insecure).unschedule(recurring_run_id))
  console.print(f'deleted recurring run {recurring_run_id}')


@schedule.command('pause')
@_with_kfp_options
@click.argument('recurring_run_id')
def schedule_pause(host, token_file, namespace, insecure, recurring_run_id):
  """Stop starting new runs of a recurring run (a run already started goes on)."""
  _kfp_call(lambda: _pipelines(host, token_file, namespace, insecure).pause(recurring_run_id))
  console.print(f'paused recurring run {recurring_run_id}: no new runs until '
                f'`recfusion schedule resume {recurring_run_id}`')


@schedule.command('resume')
@_with_kfp_options
@click.argument('recurring_run_id')
def schedule_resume(host, token_file, namespace, insecure, recurring_run_id):
  """Start a paused recurring run's schedule again (missed runs are not caught up)."""
  _kfp_call(lambda: _pipelines(host, token_file, namespace, insecure).resume(recurring_run_id))
  console.print(f'resumed recurring run {recurring_run_id}')


COMMANDS = (compile_command, submit, status, schedule)
