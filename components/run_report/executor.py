"""RunReport executor: renders the run's model-analysis report into an HTML artifact."""
import json
import os
from typing import Any, Dict, List

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from recfusion import keys
from recfusion.report import collect, render, training
from recfusion.runs.summary import RunSummary

REPORT_FILE = 'report.html'
# Inputs `model_run_<ranker>`: each Trainer's ModelRun (component.model_run_key).
MODEL_RUN_PREFIX = 'model_run_'


def report_path(artifact_uri: str) -> str:
  """Where the page of a RunReport artifact is: the URI itself on Kubeflow, else a file in
  the artifact's folder."""
  if os.environ.get(keys.REPORT_AT_URI_ENV) == '1':
    return artifact_uri
  return os.path.join(artifact_uri, REPORT_FILE)


def _single(input_dict, key):
  artifacts = input_dict.get(key) or []
  return artifacts[0] if artifacts else None


def _registry_dir(push: Dict[str, Any], baseline) -> str:
  """The registry this run pushed to, or holds its production model: the folder above a
  version's ('' when neither is known)."""
  path = push.get('path') or (keys.string_property(baseline, keys.BASELINE_PATH)
                              if baseline is not None else '')
  return os.path.dirname(path.rstrip('/')) if path else ''


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
      push = keys.push_record(pushed)
    run = RunSummary(
        run_id=(self._context.pipeline_run_id if self._context else '') or '',
        pipeline=exec_properties.get('pipeline_name', ''),
        join_report=json.loads(examples.get_string_custom_property(keys.JOIN_REPORT) or '{}')
        if examples else {},
        fusion=json.loads(fusion.get_string_custom_property(keys.FUSION_REPORT) or '{}')
        if fusion else {},
        evaluation={
            'blessed': keys.is_blessed(blessing) if blessing is not None else None,
            'baseline_version': keys.baseline_version(baseline) if baseline is not None else None},
        push=push)
    model_runs = {f'Trainer.{key[len(MODEL_RUN_PREFIX):]}': {'model_run': [runs[0].uri]}
                  for key, runs in input_dict.items()
                  if key.startswith(MODEL_RUN_PREFIX) and runs}
    statistics = _single(input_dict, 'statistics')
    registry_dir = _registry_dir(push, baseline)
    report = collect.from_artifacts(
        evaluation.uri, run, anomalies_uri=anomalies.uri if anomalies else None,
        history=collect.registry_history(registry_dir),
        drift=collect.data_drift(statistics.uri if statistics else None, registry_dir,
                                 run.baseline_version),
        training=training.trainers(model_runs),
        config_yaml=exec_properties.get('config_yaml') or '')
    output = artifact_utils.get_single_instance(output_dict['report'])
    path = report_path(output.uri)
    fileio.makedirs(os.path.dirname(path))
    with fileio.open(path, 'w') as f:
      f.write(render.html(report))
    output.set_int_custom_property(keys.BLESSED, int(bool(report.blessed)))
    logging.info('RunReport: wrote %s', path)
