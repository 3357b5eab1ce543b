"""Commands that work on a shop's data: `data generate`, `data check`, `run`, `predict`."""
import json
import os
import signal
import sys
import time
from typing import List

import click
from rich.markup import escape

from recfusion.cli import common
from recfusion.cli.common import console
from recfusion.config import Config, ConfigError
from recfusion.data.errors import DataContractError
from recfusion.home import HomeBusyError
from recfusion import registry
from recfusion.registry import RegistryError


@click.group()
def data():
  """Generate or check data in the input contract (see schemas/README.md)."""


@data.command('generate')
@click.option('--out', 'out_dir', required=True, type=click.Path(file_okay=False),
              help='Folder to write catalog, users, events/span-<N>/ and truth/ into.')
@click.option('--profile', type=click.Choice(['shop', 'search_graded', 'sessions']),
              help='shop: everything logged; search_graded: judged product search without '
                   'users, positions, prices or brands; sessions: session recommendation over '
                   'a category-only catalog.')
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
@common.with_config_options
def data_generate(out_dir, config_file, overrides, **flags):
  """Write a seeded simulated shop in the data contract (schemas/README.md).

  Defaults come from the `generate` section of the config; flags override them.
  """
  from recfusion.data import simulator
  config = common.config_from(config_file, overrides)
  changed = {k: v for k, v in flags.items() if v is not None}
  try:
    shop = simulator.ShopConfig.defaults(**{**config.generate.model_dump(), **changed})
  except ValueError as e:
    raise common.bad_input(e)
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    raise common.bad_input(ValueError(f'{out_dir} is not empty; choose a new folder'))
  started = time.monotonic()
  with console.status(f'simulating {shop.num_days} days of a shop...'):
    counts = simulator.generate(out_dir, shop)
  console.print(f'wrote {counts["items"]} items, {counts["users"]} users, '
                f'{counts["requests"]} requests ({counts["event_rows"]} event rows) in '
                f'{counts["spans"]} spans to {out_dir} in {time.monotonic() - started:.1f} s')


@data.command('check')
@click.argument('data_dir', type=click.Path())
@common.with_config_options
def data_check(data_dir, config_file, overrides):
  """Validate DATA_DIR against the data contract without running anything."""
  from recfusion.data import preflight
  config = common.config_from(config_file, overrides)
  try:
    counts = preflight.check(data_dir, config)
  except DataContractError as e:
    raise common.bad_input(e)
  console.print(f'ok: {counts["spans"]} spans, {counts["event_rows"]} event rows'
                + (f', {counts["skipped_unknown_item"]} events with unknown items will be '
                   'skipped' if counts['skipped_unknown_item'] else ''))


QUICK_HOME = 'quick'
QUICK_SPANS = 3
# A shop big enough for every ranker and the gate's checks to say something, small enough that
# the run is mostly TFX's fixed costs. Its 3 spans leave about 270 eval requests, above the
# gate's 200: at 150 requests a day there were 67, so no quick run could ever be blessed, and
# one epoch on 3,000 training rows left the three neural members below chance (validation AUC
# 0.29-0.39). On this shop, measured: dcn 0.74, sequence 0.64 (text, 0.34 after one epoch, is
# left out by the fusion).
QUICK_SHOP = {'num_items': 300, 'num_users': 400, 'num_days': 4, 'requests_per_day': 600}


def quick_overrides(config: Config) -> list:
  """--set pairs of a quick run: one epoch per ranker trained in epochs, 30 trees for a forest,
  no warm start, the newest spans only, a coarse fusion grid and a small generated shop.

  Without warm start every quick model trains from scratch on the same budget, so the gate's
  change against the quick registry's model is the config change's effect, not one more
  epoch on top of the last quick model; and a change to one ranker retrains that ranker alone
  (a warm-starting Trainer reads the production model, so every push re-ran all of them)."""
  pairs = [f'generate.{key}={value}' for key, value in QUICK_SHOP.items()]
  pairs += [f'data.window_spans={min(config.data.window_spans, QUICK_SPANS)}',
            'fusion.grid_step=0.25']
  for name, hparams in config.trainers.items():
    if 'epochs' in hparams:
      pairs.append(f'trainers.{name}.epochs=1')
    if 'warm_start' in hparams:
      pairs.append(f'trainers.{name}.warm_start=false')
    if 'num_trees' in hparams:
      pairs.append(f'trainers.{name}.num_trees={min(int(hparams["num_trees"]), 30)}')
  return pairs


@click.command('run')
@common.home_option('Run home: pipeline root, ML Metadata, run logs.')
@click.option('--data', 'data_dir', type=click.Path(),
              help="The shop's data directory; generated data when omitted.")
@click.option('--beam-arg', 'beam_extra', multiple=True, metavar='ARG',
              help='Extra Beam pipeline argument, e.g. --beam-arg=--direct_num_workers=2.')
@click.option('--no-cache', is_flag=True,
              help='Re-run every component even if cached (implies --force).')
@click.option('--force', is_flag=True,
              help='Run even when the production model was trained from exactly these data, '
                   'config and code (otherwise: "nothing new", exit 0, nothing retrained).')
@click.option('--fail-if-not-blessed', is_flag=True,
              help='Exit 1 when the run completes but the gate rejects the model (for CI '
                   'jobs and schedulers); "nothing new" still exits 0.')
@click.option('--quick', is_flag=True,
              help='Try a config change in about a minute: a small generated shop (or the '
                   f'newest {QUICK_SPANS} spans of --data), one epoch per ranker, a small '
                   'forest, no warm start, in its own home (<home>/quick), so production runs '
                   'and models are never touched; a later quick run re-runs only the steps '
                   'its change touches. --set still wins over these settings.')
@common.with_config_options
def run_command(home, data_dir, beam_extra, no_cache, force, fail_if_not_blessed, quick,
                config_file, overrides):
  """Run the pipeline locally (LocalDagRunner, ML Metadata in SQLite under --home).

  A run whose data files, resolved config and recfusion code are those the registry's latest
  version was trained from stops at once: it would retrain the same models for nothing.
  A completed run exits 0 whether or not its model was blessed, unless --fail-if-not-blessed.
  """
  from recfusion.data import preflight
  from recfusion.pipeline.local_runner import generated_data, new_run_id, unchanged_since
  overrides = list(overrides)
  if beam_extra:
    overrides.append('beam.extra_args=' + json.dumps(list(beam_extra)))
  config = common.config_from(config_file, overrides)
  if quick:
    config = common.config_from(config_file, quick_overrides(config) + overrides)
    home = os.path.join(home, QUICK_HOME)
    console.print(f'quick run (--quick): small data, short training, home {home}')
  run_home = common.run_home(home)
  data_dir = data_dir or config.data.dir
  try:
    if data_dir is None:
      with console.status('generating the embedded shop data...'):
        data_dir = generated_data(config, run_home, console.print)
    # Fail in seconds, before TFX is even imported, on data that breaks the contract.
    with console.status(f'checking {data_dir} against the data contract...'):
      counts = preflight.check(data_dir, config)
  except (DataContractError, ConfigError) as e:
    raise common.bad_input(e)
  console.print(f'data: {data_dir} ({counts["spans"]} spans, {counts["event_rows"]} event rows)')
  try:
    pin = registry.read_pin(run_home.registry_dir(config))
  except RegistryError as e:
    raise common.failed(e)
  if pin is not None:
    console.print(f'[yellow]note:[/] {escape(pin.describe(run_home.registry_dir(config)))}; '
                  'this run trains and evaluates only', soft_wrap=True)
  if not (force or no_cache):
    try:
      production = unchanged_since(config, run_home, data_dir)
    except RegistryError as e:
      raise common.failed(e)
    if production is not None:
      # The run's outcome, on stdout like a run's summary.
      click.echo(f'nothing new since registry version {production.version} (run '
                 f'{production.run_id}): same data files, config and code; nothing '
                 'retrained. --force runs anyway.')
      sys.exit(0)
  sys.exit(_run(config, run_home, data_dir, new_run_id(), not no_cache, fail_if_not_blessed))


def _clock(seconds: float) -> str:
  minutes, seconds = divmod(int(seconds), 60)
  return f'{minutes:02d}:{seconds:02d}'


class RunProgress:
  """The terminal's view of a run: `[7/14] Trainer.dcn epoch 2/3 … 00:41` while a component
  runs (its elapsed time, then the run's), and `✔ [ 7/14] Trainer.dcn  41.0 s` when it ends.
  The live line is transient; on a pipe only the finished lines are written."""

  def __init__(self, started: float, clock=time.monotonic, output=None):
    from rich.progress import Progress, ProgressColumn, SpinnerColumn
    from rich.text import Text

    class LiveLine(ProgressColumn):  # re-rendered at every refresh, so the clocks tick
      def render(column, task):  # pylint: disable=no-self-argument,unused-argument
        return Text.from_markup(self.description())

    self._started = started
    self._clock = clock
    self._component_started = started
    self._label = 'importing TFX'
    self._detail = ''
    self._progress = Progress(SpinnerColumn(), LiveLine(), console=output or console,
                              transient=True)
    self._progress.add_task('run', total=None)

  def start(self) -> None:
    self._progress.start()

  def stop(self) -> None:
    self._progress.stop()

  def description(self) -> str:
    now = self._clock()
    detail = f' {self._detail}' if self._detail else ''
    return (f'{escape(self._label)}{detail} … {_clock(now - self._component_started)} '
            f'[dim](run {_clock(now - self._started)})[/]')

  def on_event(self, event) -> None:
    width = len(str(event.total))
    position = f'[{event.index:>{width}}/{event.total}]'
    if event.event == 'running':
      self._label, self._detail = f'{position} {event.component}', ''
      self._component_started = self._clock()
    elif event.event == 'epoch':
      self._detail = event.detail
    elif event.event == 'finished':
      self._progress.console.print(
          f'  [green]✔[/] {escape(position)} {escape(event.component):<22} '
          f'{event.seconds:6.1f} s')
    else:
      self._progress.console.print(
          f'  [red]✘[/] {escape(position)} {escape(event.component)} failed')


class _Terminated(BaseException):
  """SIGTERM as an exception, so a stopped run ends with a message instead of silently."""


# The signal that stopped the run (SIGINT or SIGTERM), once one has arrived.
_STOPPED_BY: List[int] = []


def _stop_exception(signum: int) -> BaseException:
  return _Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _raise_stopped(signum, frame):  # pylint: disable=unused-argument
  # Raised wherever the main thread is. A finalizer the garbage collector runs swallows it
  # (the runner collects garbage as each component starts), so the signal stays recorded
  # and the next progress event raises it again.
  if not _STOPPED_BY:
    _STOPPED_BY.append(signum)
  raise _stop_exception(signum)


def quiet_when_stopped(unraisable_hook):
  """`sys.unraisablehook` that says nothing of the stop a finalizer swallowed once SIGINT or
  SIGTERM has arrived (the run stops at its next step with its own message) and passes
  anything else on."""
  def hook(unraisable):
    if not (_STOPPED_BY and isinstance(unraisable.exc_value, (_Terminated, KeyboardInterrupt))):
      unraisable_hook(unraisable)
  return hook


def stopping_on_signal(on_event):
  """`on_event`, raising the stop first once SIGINT or SIGTERM has arrived."""
  def callback(event):
    if _STOPPED_BY:
      raise _stop_exception(_STOPPED_BY[0])
    on_event(event)
  return callback


def _run(config: Config, run_home, data_dir: str, run_id: str, enable_cache: bool,
         fail_if_not_blessed: bool = False) -> int:
  """Runs with a live line for the running component and a line per finished one; the exit
  code."""
  from recfusion.pipeline import local_runner
  console.print(f'run {run_id}: home {run_home.root}')
  started = time.monotonic()
  display = RunProgress(started)
  display.start()
  progress = stopping_on_signal(display.on_event)
  _STOPPED_BY.clear()
  previous_handlers = {signum: signal.signal(signum, _raise_stopped)
                       for signum in (signal.SIGINT, signal.SIGTERM)}
  previous_unraisable_hook = sys.unraisablehook
  sys.unraisablehook = quiet_when_stopped(previous_unraisable_hook)
  try:
    result = local_runner.run_pipeline(config, run_home, data_dir, progress,
                                       enable_cache=enable_cache, run_id=run_id)
  except (KeyboardInterrupt, _Terminated) as e:
    display.stop()
    name, code = (('SIGTERM', 143) if isinstance(e, _Terminated) else ('SIGINT', 130))
    console.print(f'[bold red]run {run_id} stopped by {name}[/]: the registry is unchanged '
                  'unless RegistryPusher had finished; `recfusion runs` lists this run as '
                  f'abandoned. Full log: {os.path.join(run_home.run_dir(run_id), "run.log")}',
                  soft_wrap=True)
    return code
  except HomeBusyError as e:
    display.stop()
    console.print(f'[bold red]error:[/] {common.user_message(e)}', soft_wrap=True)
    return common.EXIT_FAILED
  except (DataContractError, ConfigError) as e:
    display.stop()
    console.print(f'[bold red]error:[/] {common.user_message(e)}', soft_wrap=True)
    console.print(f'full log: {os.path.join(run_home.run_dir(run_id), "run.log")}')
    return common.EXIT_BAD_INPUT
  except Exception as e:  # pylint: disable=broad-except
    display.stop()
    console.print(f'[bold red]run failed:[/] {type(e).__name__}: {common.user_message(e)}',
                  soft_wrap=True)
    console.print(f'full log: {os.path.join(run_home.run_dir(run_id), "run.log")}')
    return common.EXIT_FAILED
  finally:
    for signum, handler in previous_handlers.items():
      signal.signal(signum, handler)
    sys.unraisablehook = previous_unraisable_hook
  display.stop()
  record = _print_summary(config, run_home, result, time.monotonic() - started)
  if fail_if_not_blessed and not record.blessed:
    console.print('[bold red]not blessed[/] (--fail-if-not-blessed): exit 1', soft_wrap=True)
    return common.EXIT_FAILED
  return 0


def _print_summary(config: Config, run_home, result, wall_seconds: float):
  from recfusion.report import collect, data, text
  from recfusion.runs import summary
  record = summary.summarize_run(run_home.metadata_path, config.pipeline.name, result.run_id,
                                 result.durations)
  summary.save(record, result.run_dir, wall_seconds)
  report = collect.from_summary(record, result.run_dir, run_home.registry_dir(config))
  # `recfusion report` reads this back instead of TFMA's result: seconds, not TensorFlow.
  data.save(report, result.run_dir)
  out = common.stdout_console()
  text.write(report, out)
  for line in locations(record):
    out.print(line, markup=False, soft_wrap=True)
  out.print(f'wall time {wall_seconds:.0f} s; summary and full log: {result.run_dir}/',
            soft_wrap=True)
  return record


def locations(record) -> list:
  """Where to look next: the run's report page and its Trainers' TensorBoard logs (the pushed
  model's folder is on the push line)."""
  from recfusion.components.run_report.executor import report_path
  lines = []
  outputs = {component.name: component.outputs for component in record.components}
  reports = outputs.get('RunReport', {}).get('report') or []
  if reports:
    lines.append(f'report: {report_path(reports[0])}')
  logs = [(name.split('.', 1)[1], uris[0]) for name, component_outputs in outputs.items()
          if name.startswith('Trainer.')
          for uris in [component_outputs.get('model_run') or []] if uris]
  if logs:
    lines.append('TensorBoard: tensorboard --logdir_spec '
                 + ','.join(f'{ranker}:{uri}' for ranker, uri in sorted(logs)))
  return lines


@click.command()
@click.option('--model', default='latest', show_default=True,
              help="A registry version number, 'latest', or a SavedModel folder.")
@click.option('--input', 'input_file', required=True, type=click.Path(dir_okay=False),
              help='JSON lines, one request each (see recfusion/predict.py for the format).')
@click.option('--data', 'data_dir', type=click.Path(file_okay=False),
              help='Data directory whose catalog (and users) resolve candidate ids.')
@click.option('--top', type=click.IntRange(1), help='Print only the best N candidates.')
@common.home_option('Run home holding the registry.')
@common.with_config_options
def predict(model, input_file, data_dir, top, home, config_file, overrides):
  """Rank each request's candidates with a pushed model; JSON lines on stdout."""
  from recfusion import predict as predicting
  config = common.config_from(config_file, overrides)
  registry_dir = common.run_home(home).registry_dir(config)
  try:
    for ranked in predicting.rank_file(model, registry_dir, input_file, data_dir, top,
                                       config.data.pseudonymize_user_ids):
      click.echo(json.dumps(ranked, allow_nan=False))
  except (DataContractError, ConfigError) as e:
    raise common.bad_input(e)
  except RegistryError as e:
    raise common.failed(e)


COMMANDS = (data, run_command, predict)
