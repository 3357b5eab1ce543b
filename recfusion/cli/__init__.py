"""The `recfusion` command line (docs/architecture.md §9).

Exit codes: 0 ok, 1 the run failed, 2 bad usage or bad input (config, data contract, anomalies).
"""
import warnings

import click

from recfusion.cli import history, kubeflow, registry_commands, run

# The stack's deprecation notices (Python 3.10 support, Beam, TF) would bury the progress.
warnings.filterwarnings('ignore', category=FutureWarning)
warnings.filterwarnings('ignore', category=DeprecationWarning)


@click.group(context_settings={'help_option_names': ['-h', '--help'], 'max_content_width': 100})
@click.version_option(package_name='recfusion')
def main():
  """recfusion: train four ranking models on a shop's logs, fuse them, gate and push.

  Start with `recfusion run`: it generates a shop's data and runs the whole pipeline locally.
  """


for _command in (*run.COMMANDS, *kubeflow.COMMANDS, *history.COMMANDS,
                 *registry_commands.COMMANDS):
  main.add_command(_command)
# `models` is the name operators reach for, `registry` the folder's: both work.
main.add_command(registry_commands.registry_group, name='models')
