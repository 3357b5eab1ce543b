"""`recfusion registry` (also `recfusion models`): what is in production, roll back to or pin an
earlier version, prune old ones."""
import json

import click
from rich.markup import escape
from rich.table import Table

from recfusion.cli import common
from recfusion.registry import RegistryError


@click.group('registry')
def registry_group():
  """The model registry of --home: the versions TF Serving can load (also `models`)."""


def _directory(home, config_file, overrides) -> str:
  config = common.config_from(config_file, overrides)
  return common.run_home(home).registry_dir(config)


def _change(operation, home, config_file, overrides, *args):
  """Runs a registry operation on --home's registry: an unknown version is bad input (2), a
  broken registry a failure (1)."""
  try:
    return operation(_directory(home, config_file, overrides), *args)
  except LookupError as e:
    raise common.bad_input(e)
  except RegistryError as e:
    raise common.failed(e)


def _cost_cells(cost):
  """Size and median latency per request the serving smoke test measured ('-' before it)."""
  return [f'{cost["size_mb"]:.1f}' if 'size_mb' in cost else '-',
          f'{cost["latency_ms_p50"]:.1f}' if 'latency_ms_p50' in cost else '-']


@registry_group.command('list')
@click.option('--json', 'as_json', is_flag=True, help='One JSON object per version.')
@common.home_option()
@common.with_config_options
def list_versions(as_json, home, config_file, overrides):
  """Every version, newest first; the first is the one in production."""
  from recfusion import registry
  directory = _directory(home, config_file, overrides)
  try:
    records = sorted(registry.read_index(directory), key=lambda r: -r.version)
    pin = registry.read_pin(directory)
  except RegistryError as e:
    raise common.failed(e)
  if as_json:
    for record in records:
      click.echo(json.dumps({'version': record.version, 'path': record.path,
                             'run_id': record.run_id, 'spans': record.spans,
                             'metrics': record.metrics, 'pushed_at': record.pushed_at,
                             'extra': record.extra,
                             'pinned': pin is not None and pin.version == record.version},
                            sort_keys=True))
    return
  table = Table(title=f'registry {directory}', title_justify='left')
  for column in ('version', 'pushed (UTC)', 'run', 'spans', 'NDCG@10', 'fusion', 'MB',
                 'p50 ms', 'note'):
    table.add_column(column, no_wrap=column in ('run', 'pushed (UTC)'))
  for i, record in enumerate(records):
    ndcg = record.metrics.get('ndcg@10')
    notes = (['in production'] if i == 0 else []) + (
        [f'rollback of {record.extra["rollback_of"]}'] if 'rollback_of' in record.extra else []
    ) + (['recovered'] if 'recovered' in record.extra else []) + (
        [f'compact (without {", ".join(record.extra["compact"].get("pruned", []))})']
        if 'compact' in (record.extra.get('compact') or {}) else []) + (
        ['pinned'] if pin is not None and pin.version == record.version else [])
    table.add_row(str(record.version), record.pushed_at.replace('+00:00', ''), record.run_id,
                  ','.join(map(str, record.spans)), f'{ndcg:.4f}' if ndcg is not None else '-',
                  str(record.extra.get('fusion_method', '-')),
                  *_cost_cells(record.extra.get('serving') or {}), ', '.join(notes))
  common.stdout_console().print(table)
  if pin is not None:
    common.stdout_console().print(escape(pin.describe(directory)), soft_wrap=True)


@registry_group.command('rollback')
@click.argument('version', type=click.IntRange(1))
@common.home_option()
@common.with_config_options
def rollback(version, home, config_file, overrides):
  """Serve VERSION again: it is copied in as the next version (TF Serving loads the highest)."""
  from recfusion import registry
  record = _change(registry.rollback, home, config_file, overrides, version)
  click.echo(f'version {record.version} is version {version} again: {record.path}')


@registry_group.command('pin')
@click.argument('version', type=click.IntRange(1))
@click.option('--reason', default='', help='Why, for whoever finds pushes refused.')
@common.home_option()
@common.with_config_options
def pin(version, reason, home, config_file, overrides):
  """Serve VERSION and keep serving it: runs still train and evaluate, nothing is pushed
  until `unpin`. If VERSION is not the newest, a copy of it becomes the next version."""
  from recfusion import registry
  record, new_pin = _change(registry.pin, home, config_file, overrides, version, reason)
  copied = f' (a copy of version {version})' if record.version != version else ''
  click.echo(f'pinned: version {new_pin.version}{copied} is in production and stays there '
             'until `recfusion registry unpin`')


@registry_group.command('unpin')
@common.home_option()
@common.with_config_options
def unpin(home, config_file, overrides):
  """Let blessed runs push new versions again."""
  from recfusion import registry
  lifted = _change(registry.unpin, home, config_file, overrides)
  click.echo(f'unpinned version {lifted.version}: the next blessed run pushes' if lifted
             else 'not pinned: nothing to do')


@registry_group.command('prune')
@click.option('--keep', type=click.IntRange(1), required=True,
              help='How many of the newest versions to keep (the latest always stays).')
@common.home_option()
@common.with_config_options
def prune(keep, home, config_file, overrides):
  """Remove all but the KEEP newest versions, folders and index entries (a pinned version
  stays)."""
  from recfusion import registry
  removed = _change(registry.prune, home, config_file, overrides, keep)
  click.echo(f'removed version(s) {", ".join(map(str, removed))}' if removed
             else f'nothing to remove: {keep} or fewer versions')


COMMANDS = (registry_group,)
