"""What every command shares: exit codes, the two consoles, config options, bad input."""
import os
import re
import sys
from typing import Optional, Sequence

import click
from rich.console import Console
from rich.markup import escape

from recfusion.config import Config, ConfigError, load_config

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
DEFAULT_HOME = './recfusion_home'

# Progress and messages; stdout stays for results, so that they can be piped.
console = Console(stderr=True, highlight=False)
_BEAM_STEP = re.compile(r" \[while running '[^']*'\]")


def stdout_console() -> Console:
  # Piped output (files, CI logs) gets room for whole run ids instead of a terminal's 80.
  return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def user_message(error: BaseException) -> str:
  """The message as written for the user, ready for a Rich console: Beam's step annotations
  removed, and escaped, since it quotes data values (an event named `[/]` must print as
  itself, not as markup)."""
  return escape(_BEAM_STEP.sub('', str(error)))


def failed(error: BaseException) -> click.exceptions.Exit:
  """A failure that is not the user's input (a broken registry, a busy home): exit 1."""
  console.print(f'[bold red]error:[/] {user_message(error)}', markup=True, soft_wrap=True)
  return click.exceptions.Exit(EXIT_FAILED)


def bad_input(error: BaseException) -> click.exceptions.Exit:
  console.print(f'[bold red]error:[/] {user_message(error)}', markup=True, soft_wrap=True)
  return click.exceptions.Exit(EXIT_BAD_INPUT)


_CONFIG_OPTIONS = [
    click.option('--config', 'config_file', type=click.Path(dir_okay=False),
                 help='YAML file overriding the embedded defaults (any subset of keys).'),
    click.option('--set', 'overrides', multiple=True, metavar='KEY=VALUE',
                 help='Override one config key, e.g. --set data.window_spans=3 (repeatable).'),
]


def with_config_options(function):
  for option in reversed(_CONFIG_OPTIONS):
    function = option(function)
  return function


def config_from(config_file: Optional[str], overrides: Sequence[str]) -> Config:
  try:
    return load_config(config_file, overrides)
  except ConfigError as e:
    raise bad_input(e)


def home_option(help_text: str = 'Run home.'):
  return click.option('--home', default=DEFAULT_HOME, show_default=True,
                      type=click.Path(file_okay=False), help=help_text)


def run_home(home: str):
  from recfusion.home import RunHome
  return RunHome(os.path.abspath(home))
