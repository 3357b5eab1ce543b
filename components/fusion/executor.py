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
from recfusion.models.fusion import compact, fitting, fused_model
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
    loaded = {name: fused_model.load_member(d) for name, d in ranker_dirs.items()}
    examples = artifact_utils.get_single_instance(input_dict['examples'])
    validation = score_split(artifact_utils.get_split_uri([examples], keys.FUSION_SPLIT),
                             tft_output, loaded)
    fitted = fitting.fit(validation, sorted(ranker_dirs), exec_properties['method'],
                         float(exec_properties['grid_step']))

    model_artifact = artifact_utils.get_single_instance(output_dict['model'])
    fused_model.save(fused_ranker(tft_output, loaded, fitted, sorted(dropped)),
                     path_utils.serving_model_path(model_artifact.uri))
    compact_info = export_compact(exec_properties.get('prune_below'), model_artifact.uri,
                                  tft_output, loaded, fitted, dropped=sorted(dropped))

    # What each member had to learn from: the run summary names the features this log lacks.
    members = {name: {k: v for k, v in info.items() if k not in ('trained', 'reason')}
               for name, info in infos.items()}
    report = {**fitted.report, 'dropped': dropped, 'members': members,
              **({keys.COMPACT: compact_info} if compact_info else {})}
    report_artifact = artifact_utils.get_single_instance(output_dict['fusion_report'])
    fileio.makedirs(report_artifact.uri)
    with fileio.open(os.path.join(report_artifact.uri, REPORT_FILE), 'w') as f:
      f.write(json.dumps(report, indent=2, sort_keys=True))
    report_artifact.set_string_custom_property(keys.FUSION_REPORT,
                                               json.dumps(report, sort_keys=True))
    model_artifact.set_string_custom_property(keys.FUSION_METHOD, report['method'])
    if compact_info:
      model_artifact.set_string_custom_property(keys.COMPACT,
                                                json.dumps(compact_info, sort_keys=True))
    model_artifact.set_string_custom_property(keys.MEMBER_HEALTH,
                                              json.dumps(report['member_health'], sort_keys=True))
    logging.info('Fusion (%s): weights %s; validation metrics %s', report['method'],
                 report['weights'], report['metrics'])


def fused_ranker(tft_output: tft.TFTransformOutput, ranker_dirs: Dict[str, Any],
                 fitted: fitting.FittedFusion, dropped: List[str],
                 pruned: List[str] = ()) -> fused_model.FusedRanker:
  """The fused model of a fit (tools/bench/compact.py builds the same)."""
  return fused_model.FusedRanker(
      tft_output, ranker_dirs, {n: (s.mean, s.std) for n, s in fitted.standardizers.items()},
      fitted.fusion, fitted.platt, dropped=dropped, pruned=pruned)


def export_compact(prune_below: Any, model_uri: str, tft_output: tft.TFTransformOutput,
                   ranker_dirs: Dict[str, Any], fitted: fitting.FittedFusion,
                   dropped: List[str]) -> Dict[str, Any]:
  """Saves the fused model without its near-zero members beside the full one, when asked and
  when some member is that light; returns what was done ({} when not asked)."""
  if prune_below is None:
    return {}
  weights = fitted.fusion.mean_weights
  pruned = compact.pruned_members(weights, float(prune_below))
  info = compact.describe(float(prune_below), weights, pruned)
  if pruned:
    fused_model.save(fused_ranker(tft_output, ranker_dirs, fitted, dropped, sorted(pruned)),
                     os.path.join(model_uri, compact.COMPACT_DIR))
    logging.info('Fusion: compact export without %s (weights %s)', sorted(pruned), pruned)
  else:
    logging.info('Fusion: no member weighs at most %s; no compact export', prune_below)
  return info
