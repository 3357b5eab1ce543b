"""InputsCheck executor: the run's inputs digest against the production model's."""
import json
from typing import Any, Dict, List

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from recfusion import fingerprints, keys, registry
from recfusion.pipeline.parameters import DATA_DIR, FORCE

# Execution properties that are not settings of the run.
_NOT_SETTINGS = ('registry_dir', 'config_yaml', FORCE)


def run_config_text(config_yaml: str, settings: Dict[str, Any]) -> str:
  """The compiled config and this run's runtime parameter values: what the models are
  trained from besides the data and the code."""
  return config_yaml + '\n# runtime parameters\n' + json.dumps(settings, sort_keys=True)


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    result = artifact_utils.get_single_instance(output_dict['result'])
    settings = {k: v for k, v in exec_properties.items() if k not in _NOT_SETTINGS}
    digest = fingerprints.inputs_digest(
        settings[DATA_DIR], run_config_text(exec_properties['config_yaml'], settings))
    result.set_string_custom_property(keys.INPUTS_DIGEST, digest)
    latest = registry.latest(exec_properties['registry_dir'])
    unchanged = latest is not None and latest.extra.get(keys.INPUTS_DIGEST) == digest
    if unchanged and int(exec_properties.get(FORCE) or 0):
      logging.info('InputsCheck: nothing new since registry version %d, but force=1: the '
                   'pipeline runs anyway', latest.version)
      unchanged = False
    result.set_int_custom_property(keys.INPUTS_CHANGED, 0 if unchanged else 1)
    if unchanged:
      result.set_int_custom_property(keys.UNCHANGED_SINCE_VERSION, latest.version)
      logging.info('InputsCheck: nothing new since registry version %d (run %s): same data '
                   'files, config and code; the rest of the pipeline is skipped. '
                   '--param force=1 runs anyway.', latest.version, latest.run_id)
    else:
      logging.info('InputsCheck: inputs %s differ from the production model\'s (%s); the '
                   'pipeline runs', digest,
                   latest.extra.get(keys.INPUTS_DIGEST) if latest else 'no model in production')
