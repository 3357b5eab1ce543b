"""Evaluator: TFX's own, with recfusion's gate settings as execution parameters.

The stock component takes no settings beyond the TFMA EvalConfig, and TFMA validates point
estimates only. The gate's other checks (recfusion/evaluation/gate.py) need their settings
in the executor, locally and on Kubeflow alike, so they travel as the `gate` parameter; the
component keeps the stock id, inputs, outputs and type, so lineage reads as TFX's Evaluator.
"""
import dataclasses
import json
from typing import List, Optional, Union

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from recfusion.components.evaluator import executor
from recfusion.evaluation import gate

GATE_KEY = executor.GATE_KEY
FLOOR_KEY = executor.FLOOR_KEY
TOLERANCE_KEY = executor.TOLERANCE_KEY


FloatOrParameter = Union[float, data_types.RuntimeParameter]


class GatedEvaluatorSpec(standard_component_specs.EvaluatorSpec):
  PARAMETERS = {**standard_component_specs.EvaluatorSpec.PARAMETERS,
                GATE_KEY: ExecutionParameter(type=str),
                # Apart from `gate` so that each can be a Kubeflow runtime parameter.
                FLOOR_KEY: ExecutionParameter(type=float, optional=True),
                TOLERANCE_KEY: ExecutionParameter(type=float, optional=True)}


class Evaluator(base_beam_component.BaseBeamComponent):
  SPEC_CLASS = GatedEvaluatorSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
               baseline_model: types.BaseChannel, eval_config: tfma.EvalConfig,
               settings: gate.Settings, example_splits: Optional[List[str]] = None,
               ndcg10_floor: Optional[FloatOrParameter] = None,
               tolerance: Optional[FloatOrParameter] = None):
    """`ndcg10_floor`, `tolerance`: when given, they replace the settings' and the NDCG@10
    threshold of `eval_config` at run time."""
    super().__init__(spec=GatedEvaluatorSpec(
        examples=examples, model=model, baseline_model=baseline_model,
        eval_config=eval_config, example_splits=json_utils.dumps(example_splits),
        gate=json.dumps(dataclasses.asdict(settings), sort_keys=True),
        ndcg10_floor=ndcg10_floor, tolerance=tolerance,
        evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        blessing=types.Channel(type=standard_artifacts.ModelBlessing)))
