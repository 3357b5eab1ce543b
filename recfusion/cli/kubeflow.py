"""Commands for a Kubeflow Pipelines cluster: `compile`, `submit`, `schedule create/list/delete`."""
import json
import os

import click
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


@click.command()
@_with_kfp_options
@_package_option
@click.option('--experiment', default='recfusion', show_default=True)
@click.option('--run-name', default=None, help='Default: recfusion-<UTC time>.')
def submit(host, token_file, namespace, insecure, package, experiment, run_name):
  """Start one run of the compiled pipeline on a Kubeflow Pipelines cluster."""
  import datetime
  _require_package(package)
  run_name = run_name or 'recfusion-' + datetime.datetime.utcnow().strftime('%Y%m%d-%H%M%S')
  run_id = _kfp_call(lambda: _pipelines(host, token_file, namespace, insecure).submit(
      package, experiment, run_name))
  console.print(f'submitted run {run_id} ({run_name}) in experiment {experiment} at {host}')


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
def schedule_create(host, token_file, namespace, insecure, package, cron, max_concurrency, name,
                    experiment):
  """Create a recurring run of the compiled pipeline."""
  from recfusion.pipeline.kubeflow_client import KubeflowError, kfp_cron
  _require_package(package)
  try:
    kfp_cron(cron)  # a malformed --cron is bad usage, known before any network call
  except KubeflowError as e:
    raise common.bad_input(e)
  recurring_id = _kfp_call(lambda: _pipelines(host, token_file, namespace, insecure).schedule(
      package, experiment, name, cron, max_concurrency))
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


COMMANDS = (compile_command, submit, schedule)
