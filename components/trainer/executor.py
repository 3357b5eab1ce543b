"""Trainer executor: the stock one, after folding the `epochs` parameter into custom_config."""
from typing import Any, Dict, List

from tfx.components.trainer import executor as stock_executor
from tfx.types import standard_component_specs
from tfx.utils import json_utils

EPOCHS_KEY = 'epochs'
CUSTOM_CONFIG_KEY = standard_component_specs.CUSTOM_CONFIG_KEY


def with_epochs(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
  """The properties the stock executor gets: custom_config's `epochs` replaced by the
  parameter when it is set, and the parameter itself removed."""
  properties = {k: v for k, v in exec_properties.items() if k != EPOCHS_KEY}
  epochs = exec_properties.get(EPOCHS_KEY)
  if epochs is None:
    return properties
  epochs = int(epochs)
  if epochs < 1:
    raise ValueError(f'the Trainer parameter {EPOCHS_KEY} must be at least 1, got {epochs}')
  custom_config = json_utils.loads(properties.get(CUSTOM_CONFIG_KEY) or 'null') or {}
  properties[CUSTOM_CONFIG_KEY] = json_utils.dumps({**custom_config, EPOCHS_KEY: epochs})
  return properties


class Executor(stock_executor.GenericExecutor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    super().Do(input_dict, output_dict, with_epochs(exec_properties))
