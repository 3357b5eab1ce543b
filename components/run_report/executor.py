"""RunReport executor: renders the run's model-analysis report into an HTML artifact."""
import json
import os
from typing import Any, Dict, List

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from recfusion.components.baseline_lookup.executor import VERSION_PROPERTY, baseline_found
from recfusion.components.registry_pusher import executor as pusher_executor
from recfusion.report import collect, render

REPORT_FILE = 'report.html'
# Set by the Kubeflow entrypoint (pipeline/kfp_executor.py): the artifact is typed
# `system.HTML` there, and KFP's UI shows the file at the artifact's URI.
REPORT_AT_URI_ENV = 'RECFUSION_REPORT_AT_URI'


def report_path(artifact_uri: str) -> str:
  """Where the page of a RunReport artifact is: the URI itself on Kubeflow, else a file in
  the artifact's folder."""
  if os.environ.get(REPORT_AT_URI_ENV) == '1':
    return artifact_uri
  return os.path.join(artifact_uri, REPORT_FILE)


def _single(input_dict, key):
  artifacts = input_dict.get(key) or []
  return artifacts[0] if artifacts else None


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    evaluation = _single(input_dict, 'evaluation')
    blessing = _single(input_dict, 'model_blessing')
    fusion = _single(input_dict, 'fusion_report')
    examples = _single(input_dict, 'examples')
    anomalies = _single(input_dict, 'anomalies')
    baseline = _single(input_dict, 'baseline_model')
    pushed = _single(input_dict, 'pushed_model')
    push = {}
    if pushed is not None:
      push = {'pushed': bool(pushed.get_int_custom_property(pusher_executor.PUSHED)),
              'version': pushed.get_string_custom_property(pusher_executor.PUSHED_VERSION),
              'path': pushed.get_string_custom_property(pusher_executor.PUSHED_DESTINATION)}
    report = collect.from_artifacts(
        evaluation.uri,
        blessed=pusher_executor.is_blessed(blessing) if blessing is not None else None,
        fusion=json.loads(fusion.get_string_custom_property('report') or '{}') if fusion else {},
        join_report=json.loads(examples.get_string_custom_property('join_report') or '{}')
        if examples else {},
        anomalies_uri=anomalies.uri if anomalies else None,
        baseline_version=(baseline.get_int_custom_property(VERSION_PROPERTY)
                          if baseline is not None and baseline_found(baseline) else None),
        run_id=(self._context.pipeline_run_id if self._context else '') or '',
        pipeline=exec_properties.get('pipeline_name', ''), pushed=push)
    output = artifact_utils.get_single_instance(output_dict['report'])
    path = report_path(output.uri)
    fileio.makedirs(os.path.dirname(path))
    with fileio.open(path, 'w') as f:
      f.write(render.html(report))
    output.set_int_custom_property('blessed', int(bool(report.blessed)))
    logging.info('RunReport: wrote %s', path)
