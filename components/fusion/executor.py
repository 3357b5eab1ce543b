"""Fusion executor: scores `validation` with every ranker, fits the fusion, exports one model."""
import json
import os
from typing import Any, Dict, List

import tensorflow_transform as tft
from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import path_utils

from recfusion import keys
from recfusion.models import training
from recfusion.models.fusion import fitting, fused_model
from recfusion.models.fusion.scoring import score_split

REPORT_FILE = 'fusion_report.json'
RANKER_INPUT_SUFFIX = '_model'


def ranker_input_key(ranker: str) -> str:
  return f'{ranker}{RANKER_INPUT_SUFFIX}'


def ranker_inputs(input_dict: Dict[str, List[Any]]) -> Dict[str, Any]:
  """{ranker name: its Model artifact} from the `<ranker>_model` inputs."""
  return {key[:-len(RANKER_INPUT_SUFFIX)]: artifact_utils.get_single_instance(artifacts)
          for key, artifacts in sorted(input_dict.items())
          if key.endswith(RANKER_INPUT_SUFFIX)}


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    tft_output = tft.TFTransformOutput(
        artifact_utils.get_single_uri(input_dict['transform_graph']))
    all_dirs = {name: path_utils.serving_model_path(artifact.uri)
                for name, artifact in ranker_inputs(input_dict).items()}
    infos = {name: training.read_ranker_info(d) for name, d in all_dirs.items()}
    # A ranker its Trainer found nothing to learn for (no histories, no text) is left out.
    dropped = {name: info.get('reason', 'not trained') for name, info in infos.items()
               if not info.get('trained', True)}
    ranker_dirs = {n: d for n, d in all_dirs.items() if n not in dropped}
    if not ranker_dirs:
      raise ValueError('Fusion: no ranker was trained: ' + '; '.join(
          f'{n}: {r}' for n, r in sorted(dropped.items())))
    examples = artifact_utils.get_single_instance(input_dict['examples'])
    validation = score_split(artifact_utils.get_split_uri([examples], keys.FUSION_SPLIT),
                             tft_output, ranker_dirs)
    fitted = fitting.fit(validation, sorted(ranker_dirs), exec_properties['method'],
                         float(exec_properties['grid_step']))

    model_artifact = artifact_utils.get_single_instance(output_dict['model'])
    module = fused_model.FusedRanker(
        tft_output, ranker_dirs, {n: (s.mean, s.std) for n, s in fitted.standardizers.items()},
        fitted.fusion, fitted.platt, dropped=sorted(dropped))
    fused_model.save(module, path_utils.serving_model_path(model_artifact.uri))

    # What each member had to learn from: the run summary names the features this log lacks.
    members = {name: {k: v for k, v in info.items() if k not in ('trained', 'reason')}
               for name, info in infos.items()}
    report = {**fitted.report, 'dropped': dropped, 'members': members}
    report_artifact = artifact_utils.get_single_instance(output_dict['fusion_report'])
    fileio.makedirs(report_artifact.uri)
    with fileio.open(os.path.join(report_artifact.uri, REPORT_FILE), 'w') as f:
      f.write(json.dumps(report, indent=2, sort_keys=True))
    report_artifact.set_string_custom_property(keys.FUSION_REPORT,
                                               json.dumps(report, sort_keys=True))
    model_artifact.set_string_custom_property(keys.FUSION_METHOD, report['method'])
    model_artifact.set_string_custom_property(keys.MEMBER_HEALTH,
                                              json.dumps(report['member_health'], sort_keys=True))
    logging.info('Fusion (%s): weights %s; validation metrics %s', report['method'],
                 report['weights'], report['metrics'])
