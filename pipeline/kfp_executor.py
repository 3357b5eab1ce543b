"""Container entrypoint of every compiled Kubeflow task: TFX's own, taught one KFP type.

KFP's UI renders artifacts of type `system.HTML` (the file at the artifact's URI). TFX's
entrypoint finds an artifact's Python class from its type's schema title: first-party TFX
types by a fixed map, anything else by importing the title as a class path, so a task whose
output is typed `system.HTML` would fail there. This module adds that title to the map (as
recfusion's HTMLReport) and runs TFX's entrypoint unchanged; `compile_pipeline` points every
task at it and types the RunReport output `system.HTML`.
"""
import os

from absl import app
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

from recfusion.keys import REPORT_AT_URI_ENV
from recfusion.pipeline import beam_swaps

MODULE = 'recfusion.pipeline.kfp_executor'
HTML_SCHEMA_TITLE = 'system.HTML'
HTML_REPORT_CLASS = 'recfusion.artifact_types.HTMLReport'


def register_kfp_types() -> None:
  compiler_utils.TITLE_TO_CLASS_PATH[HTML_SCHEMA_TITLE] = HTML_REPORT_CLASS


def main(parsed_argv):
  register_kfp_types()
  # RunReport then writes the page as the artifact itself (a file at its URI), which is what
  # KFP's UI shows, instead of a report.html inside a folder. Only in this task's process.
  os.environ[REPORT_AT_URI_ENV] = '1'
  # As the local runner's steps (pipeline/beam_swaps.py): a Beam step's pod builds and runs
  # its pipeline in this process.
  with beam_swaps.swapped_in():
    kubeflow_v2_run_executor.main(parsed_argv)


if __name__ == '__main__':
  app.run(main, flags_parser=kubeflow_v2_run_executor._parse_flags)  # pylint: disable=protected-access
