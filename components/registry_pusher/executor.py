"""RegistryPusher executor: pushes a blessed model that passes the serving smoke test as the
registry's next version."""
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from recfusion import keys, registry, serving_check
from recfusion.evaluation import results
from recfusion.models.fusion import compact


def _refuse(pushed: Any, reason: str) -> None:
  """An operator's pin is a decision, not a failure: the run succeeds and says why nothing
  went out."""
  logging.info('RegistryPusher: %s', reason)
  pushed.set_int_custom_property(keys.PUSHED, 0)
  pushed.set_string_custom_property(keys.PUSH_REFUSED, reason)


def _inputs_digest(input_dict: Dict[str, List[Any]], exec_properties: Dict[str, Any]) -> str:
  """The digest of what the model was made from: the local runner's, known when it built the
  pipeline, or InputsCheck's, computed in the run (Kubeflow)."""
  checks = input_dict.get('inputs_check') or []
  if checks:
    return checks[0].get_string_custom_property(keys.INPUTS_DIGEST)
  return exec_properties.get('inputs_digest') or ''


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    pushed = artifact_utils.get_single_instance(output_dict['pushed_model'])
    blessing = artifact_utils.get_single_instance(input_dict['model_blessing'])
    if not keys.is_blessed(blessing):
      logging.info('RegistryPusher: model not blessed; nothing pushed')
      pushed.set_int_custom_property(keys.PUSHED, 0)
      return
    pin = registry.read_pin(exec_properties['registry_dir'])
    if pin is not None:  # known now, before the smoke test's TensorFlow import
      return _refuse(pushed, pin.describe(exec_properties['registry_dir']))
    model = artifact_utils.get_single_instance(input_dict['model'])
    examples = artifact_utils.get_single_instance(input_dict['examples'])
    evaluation = artifact_utils.get_single_instance(input_dict['evaluation'])
    spans = [int(s) for s in examples.get_string_custom_property(keys.SPANS).split(',') if s]
    serving_path = path_utils.serving_model_path(model.uri)
    evaluated = {output: metrics['ndcg@10']
                 for output, metrics in results.overall_metrics(evaluation.uri).items()
                 if 'ndcg@10' in metrics}
    logging.info('RegistryPusher: serving smoke test of %s on the eval examples', serving_path)
    smoke = serving_check.check(serving_path, examples.uri, evaluated)
    compact_path, smoke = try_compact(model, examples.uri, evaluated, smoke,
                                      float(exec_properties.get('max_compact_ndcg_loss') or 0.0))
    serving_path = compact_path or serving_path
    baseline = input_dict.get('baseline_model') or []
    # What the Evaluator compared against; without a baseline input, no check (-1).
    expected = keys.baseline_version(baseline[0]) if baseline else -1
    digest = _inputs_digest(input_dict, exec_properties)
    statistics = input_dict.get('statistics') or []
    try:
      record = registry.push(
          exec_properties['registry_dir'], serving_path,
          run_id=(self._context.pipeline_run_id if self._context else '') or '', spans=spans,
          metrics=results.headline(evaluation.uri),
          extra={keys.FUSION_METHOD: model.get_string_custom_property(keys.FUSION_METHOD),
                 keys.SERVING_COST: smoke['serving'],
                 **({keys.COMPACT: smoke[keys.COMPACT]} if keys.COMPACT in smoke else {}),
                 **({keys.INPUTS_DIGEST: digest} if digest else {}),
                 **({keys.STATISTICS: statistics[0].uri} if statistics else {})},
          expected_latest=expected)
    except registry.RegistryPinned as e:  # pinned while the smoke test ran
      return _refuse(pushed, str(e))
    pushed.set_int_custom_property(keys.PUSHED, 1)
    pushed.set_string_custom_property(keys.PUSHED_VERSION, str(record.version))
    pushed.set_string_custom_property(keys.PUSHED_DESTINATION, record.path)
    pushed.set_string_custom_property(keys.SERVING_CHECK, json.dumps(smoke, sort_keys=True))
    fileio.makedirs(pushed.uri)
    io_utils.write_string_file(os.path.join(pushed.uri, serving_check.CHECK_FILE),
                               json.dumps(smoke, indent=2, sort_keys=True))
    io_utils.write_string_file(os.path.join(pushed.uri, 'registry_record.json'),
                               json.dumps({'version': record.version, 'path': record.path}))
    logging.info('RegistryPusher: pushed version %d to %s', record.version, record.path)


def try_compact(model: Any, examples_uri: str, evaluated: Dict[str, float],
                full_smoke: Dict[str, Any], max_loss: float) -> Tuple[Optional[str], Dict[str, Any]]:
  """(the compact export's path, its smoke test) when the Fusion made one and it serves within
  `max_loss` NDCG@10 of the Evaluator's on eval; else (None, the full model's smoke test). Either
  smoke test says under `compact` what the compact export cost or why it was refused."""
  info = compact.read(model)
  if not info.get('path'):
    return None, full_smoke
  path = os.path.join(model.uri, info['path'])
  members = set(info['kept']) | set(info['pruned'])
  # The pruned members' outputs are zeros: only the fused outputs and the kept members count,
  # the kept members exactly (their graphs are the same), the fused ones within max_loss.
  expected = {name: value for name, value in evaluated.items() if name not in info['pruned']}
  allowed = {name: max_loss for name in expected if name not in members}
  record = {'pruned': sorted(info['pruned']), 'max_ndcg_loss': max_loss,
            'full': full_smoke['serving']}
  logging.info('RegistryPusher: serving smoke test of the compact export %s', path)
  try:
    smoke = serving_check.check(path, examples_uri, expected, allowed)
  except serving_check.ServingCheckError as e:
    logging.warning('RegistryPusher: compact export refused, pushing the full model: %s', e)
    return None, {**full_smoke, keys.COMPACT: {**record, 'refused': str(e)}}
  record.update(ndcg_loss=smoke['ndcg@10_loss'].get(keys.SCORE_KEY), compact=smoke['serving'])
  return path, {**smoke, keys.COMPACT: record}
