"""Evaluator executor that compares with a baseline only when BaselineLookup found one.

BaselineLookup always outputs a Model artifact (KFP needs a concrete output); when the registry
was empty it carries `found=0` and no files. Handing that to TFMA as a baseline would fail, so
it is dropped here and the stock Evaluator then validates the candidate alone (change
thresholds are skipped without a baseline: TFX's rubber stamp).
"""
from typing import Any, Dict, List

from absl import logging
from tfx.components.evaluator import executor as stock_executor
from tfx.types import standard_component_specs

from recfusion.keys import baseline_found
from recfusion.models import saved_models

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY


class Executor(stock_executor.Executor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    # TFMA loads the fused model in this process (DirectRunner): its gbt member's ops first.
    saved_models.register_ops()
    baselines = input_dict.get(BASELINE_KEY) or []
    if baselines and not all(baseline_found(b) for b in baselines):
      logging.info('Evaluator: no model in production; evaluating without a baseline')
      input_dict = {k: v for k, v in input_dict.items() if k != BASELINE_KEY}
    return super().Do(input_dict, output_dict, exec_properties)
