"""The `recfusion` command line (docs/architecture.md §9).

Exit codes: 0 ok, 1 the run failed, 2 bad usage or bad input (config, data contract, anomalies).
"""
import atexit
import functools
import gc
import sys
import warnings

import click

from recfusion.cli import history, kubeflow, registry_commands, run

# The stack's deprecation notices (Python 3.10 support, Beam, TF) would bury the progress.
warnings.filterwarnings('ignore', category=FutureWarning)
warnings.filterwarnings('ignore', category=DeprecationWarning)


@functools.lru_cache(maxsize=None)
def prepare_process() -> None:
  """What a command's process does before its command runs (TFX is imported later, lazily).

  Python's shutdown collects garbage over every object the process holds, and once
  TensorFlow, TFX, Beam and TFMA are imported that walk is ~1.7 s of each command's exit, for
  memory the system takes back anyway: frozen objects are left out of it (registered first, so
  TensorFlow's and logging's exit handlers still run before it).

  TFX imports every stock component, the infra validator's Kubernetes client among them, which
  imports kubernetes-validate where it is installed (`make install` puts it beside the stack for
  the manifest tests), which imports jsonschema, whose IRI format check compiles a grammar at
  import (rfc3987_syntax): 1.2 s of every command that imports TFX, for a check recfusion
  never asks for. Without the module jsonschema leaves that one format unchecked.
  """
  atexit.register(gc.freeze)
  sys.modules.setdefault('rfc3987_syntax', None)


@click.group(context_settings={'help_option_names': ['-h', '--help'], 'max_content_width': 100})
@click.version_option(package_name='recfusion')
def main():
  """recfusion: train four ranking models on a shop's logs, fuse them, gate and push.

  Start with `recfusion run`: it generates a shop's data and runs the whole pipeline locally.
  """
  prepare_process()


for _command in (*run.COMMANDS, *kubeflow.COMMANDS, *history.COMMANDS,
                 *registry_commands.COMMANDS):
  main.add_command(_command)
# `models` is the name operators reach for, `registry` the folder's: both work.
main.add_command(registry_commands.registry_group, name='models')
