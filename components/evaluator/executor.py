"""Evaluator executor: TFMA's evaluation, then recfusion's gate on top of TFMA's blessing.

BaselineLookup always outputs a Model artifact (KFP needs a concrete output); when the registry
was empty it carries `found=0` and no files. Handing that to TFMA as a baseline would fail, so
it is dropped here and the stock Evaluator then validates the candidate alone (change
thresholds are skipped without a baseline: TFX's rubber stamp).

After TFMA, the gate's checks (recfusion/evaluation/gate.py) are read from its result and the
fused model's member health; the model is blessed only when TFMA's thresholds AND every check
pass. The checks go to `gate.json` beside TFMA's result and onto the blessing artifact.
"""
import contextlib
import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from absl import logging
from tfx.components.evaluator import executor as stock_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from recfusion import keys
from recfusion.evaluation import eval_config, gate, jackknife, results
from recfusion.models import saved_models

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY
GATE_KEY = 'gate'
FLOOR_KEY = 'ndcg10_floor'
TOLERANCE_KEY = 'tolerance'
EVAL_CONFIG_KEY = standard_component_specs.EVAL_CONFIG_KEY
MODULE_PATH_KEY = standard_component_specs.MODULE_PATH_KEY
MODULE_FILE_KEY = standard_component_specs.MODULE_FILE_KEY
EXTRACTORS_MODULE = 'recfusion.evaluation.extractors'
# The marker files TFX's Evaluator writes into the blessing folder.
BLESSED_FILE, NOT_BLESSED_FILE = 'BLESSED', 'NOT_BLESSED'


class Executor(stock_executor.Executor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    # TFMA loads the fused model in this process (DirectRunner): its gbt member's ops first.
    saved_models.register_ops()
    baselines = input_dict.get(BASELINE_KEY) or []
    if baselines and not all(keys.baseline_found(b) for b in baselines):
      logging.info('Evaluator: no model in production; evaluating without a baseline')
      input_dict = {k: v for k, v in input_dict.items() if k != BASELINE_KEY}
    settings = (gate.Settings(**json.loads(exec_properties[GATE_KEY]))
                if exec_properties.get(GATE_KEY) else None)
    tfma_properties, settings = with_thresholds(exec_properties, settings)
    tfma_properties = with_slim_extracts(tfma_properties)
    with cheap_array_reprs(), graph_optimizer_off(), jackknife.swapped_in():
      super().Do(input_dict, output_dict, tfma_properties)
    if settings is not None:
      apply_gate(input_dict, output_dict, settings)


def cheap_array_reprs():
  """numpy print options under which a large array's repr is summarized.

  TFMA calls the serving signature with the batch of serialized examples as a positional
  argument. TensorFlow first tries the signature's structured inputs (keyword only), formats a
  TypeError whose message holds the repr of the whole batch, drops it, and calls the flat
  signature, which works. numpy prints arrays of up to 1,000 elements in full, and TFMA's
  batches hold up to 1,000 examples: that unread message took ~10% of the Evaluator at 10x the
  bench's shop. numpy 1.x keeps print options process-wide, so this covers Beam's in-process
  workers."""
  return np.printoptions(threshold=20)


@contextlib.contextmanager
def graph_optimizer_off():
  """TensorFlow's graph optimizer (Grappler) off while TFMA scores the eval split.

  Grappler rewrites a function's graph the first time the function is called, which pays off
  over a server's millions of calls, not over the Evaluator's one pass. The 10x shop's fused
  model, loaded afresh: first call 0.54 -> 0.19 s; then its 82 batches of 1,000 examples took
  the same time either way (1.55-1.56 s, alternating 4 rounds), the scores equal to 1e-6
  (float32 sums in another order). The option comes back as it was when the Evaluator is
  done. TensorFlow reads it per thread, from a per-thread copy that setting it renews only in
  the calling thread: it takes effect where the in-memory runner with its one worker (the local
  default) scores, the calling thread; Beam's thread pools of other modes may keep an older
  copy, and multi-process workers never see it (they score as before: only slower to start)."""
  before = tf.config.optimizer.get_experimental_options().get('disable_meta_optimizer', False)
  tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': True})
  try:
    yield
  finally:
    tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': before})


def with_thresholds(exec_properties: Dict[str, Any], settings: Optional[gate.Settings]
                    ) -> Tuple[Dict[str, Any], Optional[gate.Settings]]:
  """The stock executor's properties and the gate's settings with the `ndcg10_floor` and
  `tolerance` parameters applied, when set: to the settings and to TFMA's NDCG@10 threshold."""
  properties = {k: v for k, v in exec_properties.items()
                if k not in (GATE_KEY, FLOOR_KEY, TOLERANCE_KEY)}
  floor, tolerance = exec_properties.get(FLOOR_KEY), exec_properties.get(TOLERANCE_KEY)
  if floor is None and tolerance is None:
    return properties, settings
  if settings is None:
    raise ValueError(f'{FLOOR_KEY}/{TOLERANCE_KEY} need the gate settings ({GATE_KEY})')
  settings = dataclasses.replace(
      settings, ndcg10_floor=float(settings.ndcg10_floor if floor is None else floor),
      tolerance=float(settings.tolerance if tolerance is None else tolerance))
  config = proto_utils.json_to_proto(properties[EVAL_CONFIG_KEY], tfma.EvalConfig())
  properties[EVAL_CONFIG_KEY] = proto_utils.proto_to_json(
      eval_config.with_gate(config, settings.ndcg10_floor, settings.tolerance))
  return properties, settings


def with_slim_extracts(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
  """The stock executor's properties naming recfusion's extractors (extractors.py) as its
  user module, unless a module is set already."""
  if exec_properties.get(MODULE_PATH_KEY) or exec_properties.get(MODULE_FILE_KEY):
    return exec_properties
  return {**exec_properties, MODULE_PATH_KEY: EXTRACTORS_MODULE}


def apply_gate(input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
               settings: gate.Settings) -> List[gate.Check]:
  evaluation = artifact_utils.get_single_instance(output_dict['evaluation'])
  blessing = artifact_utils.get_single_instance(output_dict['blessing'])
  model = artifact_utils.get_single_instance(input_dict['model'])
  health_json = model.get_string_custom_property(keys.MEMBER_HEALTH)
  health = gate.member_health_from_report(json.loads(health_json)) if health_json else []
  numbers = results.gate_numbers(evaluation.uri)
  with_baseline = BASELINE_KEY in input_dict
  checks = gate.decide(numbers.ndcg10, numbers.requests, numbers.members, health, settings,
                       change=numbers.change if with_baseline else None,
                       coverage_change=numbers.coverage_change)
  if with_baseline and numbers.change is None:
    checks.append(gate.Check('change_vs_baseline', False,
                             'TFMA computed no NDCG@10 change vs production to check'))
  checks.insert(0, tfma_check(evaluation.uri, numbers.ndcg10, settings,
                              tfma_blessed=keys.is_blessed(blessing)))
  gate.save(checks, evaluation.uri)
  blessing.set_string_custom_property(keys.GATE_CHECKS,
                                      json.dumps([c.to_dict() for c in checks]))
  # As text: ML Metadata's SQLite store keeps 6 significant digits of a double property.
  blessing.set_string_custom_property(keys.NDCG10, repr(numbers.ndcg10.value))
  for check in checks:
    logging.info('Gate %s %s: %s', 'pass' if check.passed else 'FAIL', check.name,
                 check.detail)
  if not gate.blessed(checks) and keys.is_blessed(blessing):
    set_not_blessed(blessing)
  return checks


def tfma_check(evaluation_uri: str, ndcg10: gate.Interval, settings: gate.Settings,
               tfma_blessed: bool = True) -> gate.Check:
  """TFMA's own thresholds (the floor, and the point change within the tolerance) as one
  check, so that one list holds the whole verdict."""
  failures = results.failed_thresholds(evaluation_uri)
  if failures:
    return gate.Check('tfma_thresholds', False, 'TFMA thresholds failed: ' + '; '.join(failures))
  if not tfma_blessed:
    # TFMA also refuses without a failed threshold (a configured slice missing, say).
    return gate.Check('tfma_thresholds', False, 'TFMA did not bless the model though no '
                      f'threshold failed: see the validation result in {evaluation_uri}')
  return gate.Check('tfma_thresholds', True,
                    f'NDCG@10 {ndcg10.value:.4f} meets the floor {settings.ndcg10_floor:g} '
                    f'(and, with a production model, the point change is within '
                    f'{-settings.tolerance:+g})')


def set_not_blessed(blessing) -> None:
  marker = os.path.join(blessing.uri, BLESSED_FILE)
  if fileio.exists(marker):
    fileio.remove(marker)
  io_utils.write_string_file(os.path.join(blessing.uri, NOT_BLESSED_FILE), '')
  blessing.set_int_custom_property(keys.BLESSED, 0)
