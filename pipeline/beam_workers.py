"""Where Beam's workers get their code, so that TFX does not package itself for every step.

Given pipeline args that name no dependency (DEPENDENCY_OPTIONS), each of TFX's Beam executors
copies TFX's whole install into a new temporary folder and builds an sdist of it for the
workers (tfx/utils/dependency_utils.py): 1.2 s per Beam step, and a 42 MB folder that is never
removed, four per run (a day of runs and tests here left 41 of them, 1.7 GB, in /tmp). Nothing
uses it: the DirectRunner's workers are this process or its children, and a remote runner's
workers need recfusion's code, which that sdist does not hold.
- On the cluster, with the DirectRunner, the Beam steps name the pipeline image as their
  workers' image (`on_cluster`): true (the workers are the pod, which runs that image), and
  it stops TFX's packaging in every Beam pod.
- Locally, with the DirectRunner, TFX's packaging is skipped while the DAG runs
  (`tfx_packaging_skipped`).
A remote runner keeps TFX's behaviour: its workers need an image with Beam's SDK harness as
entrypoint, which the pipeline image is not (README, "Beam beyond one process").
"""
import contextlib
from typing import List, Sequence

DEPENDENCY_OPTIONS = ('extra_package', 'extra_packages', 'setup_file', 'requirements_file',
                      'sdk_container_image', 'worker_harness_container_image')
DIRECT_RUNNERS = ('direct', 'directrunner', 'bundlebaseddirectrunner')


def _option_names(args: Sequence[str]) -> List[str]:
  return [arg.lstrip('-').split('=', 1)[0] for arg in args if arg.startswith('--')]


def names_dependency(args: Sequence[str]) -> bool:
  return any(name in DEPENDENCY_OPTIONS for name in _option_names(args))


def runner(args: Sequence[str]) -> str:
  """The runner these Beam args name (the last --runner wins, as in Beam), DirectRunner
  without one."""
  runners = [arg.split('=', 1)[1] for arg in args if arg.startswith('--runner=')]
  return runners[-1] if runners else 'DirectRunner'


def runs_direct(args: Sequence[str]) -> bool:
  return runner(args).lower() in DIRECT_RUNNERS


def on_cluster(args: Sequence[str], image: str) -> List[str]:
  """The cluster's Beam args: the pipeline image as the DirectRunner's workers' image,
  unless a dependency is named already."""
  if names_dependency(args) or not runs_direct(args):
    return list(args)
  return [*args, f'--sdk_container_image={image}']


@contextlib.contextmanager
def tfx_packaging_skipped():
  """While open, TFX's Beam executors in this process skip packaging TFX for DirectRunner
  args that name no dependency; other args go through TFX unchanged."""
  from tfx.utils import dependency_utils
  packaging = dependency_utils.make_beam_dependency_flags

  def direct_runner_aware(beam_pipeline_args):
    if runs_direct(beam_pipeline_args) and not names_dependency(beam_pipeline_args):
      return list(beam_pipeline_args)
    return packaging(beam_pipeline_args)

  dependency_utils.make_beam_dependency_flags = direct_runner_aware
  try:
    yield
  finally:
    dependency_utils.make_beam_dependency_flags = packaging
