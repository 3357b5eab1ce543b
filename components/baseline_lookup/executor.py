"""BaselineLookup executor: the model in production is the registry's latest version."""
from typing import Any, Dict, List

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from recfusion import keys, registry


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    artifact = artifact_utils.get_single_instance(output_dict['baseline_model'])
    directory = exec_properties['registry_dir']
    current = registry.latest(directory)
    if current is None:
      logging.info('BaselineLookup: no model in %s; the candidate has no baseline', directory)
      artifact.set_int_custom_property(keys.BASELINE_FOUND, 0)
      return
    # A copy, not a reference: the evaluation must see the model as it was at lookup time.
    # Through TFX's file I/O: the artifact may live in a bucket (a KFP pipeline root).
    io_utils.copy_dir(current.path, path_utils.serving_model_path(artifact.uri))
    artifact.set_int_custom_property(keys.BASELINE_FOUND, 1)
    artifact.set_int_custom_property(keys.BASELINE_VERSION, current.version)
    artifact.set_string_custom_property(keys.BASELINE_PATH, current.path)
    logging.info('BaselineLookup: baseline is version %d (%s)', current.version, current.path)
