"""RegistryPusher executor: pushes a blessed model that passes the serving smoke test as the
registry's next version."""
import json
import os
from typing import Any, Dict, List

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from recfusion import keys, registry, serving_check
from recfusion.evaluation import results


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
    baseline = input_dict.get('baseline_model') or []
    # What the Evaluator compared against; without a baseline input, no check (-1).
    expected = keys.baseline_version(baseline[0]) if baseline else -1
    record = registry.push(
        exec_properties['registry_dir'], serving_path,
        run_id=(self._context.pipeline_run_id if self._context else '') or '', spans=spans,
        metrics=results.headline(evaluation.uri),
        extra={keys.FUSION_METHOD: model.get_string_custom_property(keys.FUSION_METHOD),
               keys.SERVING_COST: smoke['serving'],
               **({keys.INPUTS_DIGEST: exec_properties['inputs_digest']}
                  if exec_properties.get('inputs_digest') else {})},
        expected_latest=expected)
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
