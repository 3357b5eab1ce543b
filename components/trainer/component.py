"""Trainer: TFX's own, with the epoch count as one more execution parameter.

The stock Trainer takes its hyperparameters as one JSON `custom_config`, which a compiled
Kubeflow pipeline can only take whole. The epoch count is what operators change between runs
(a quick try, a longer retrain), so it is a parameter of its own: a plain number locally, a
runtime parameter of the compiled pipeline on Kubeflow. The executor folds it into
custom_config before the stock executor runs, so run_fn sees one config as before.
"""
from typing import Any, Dict, Optional, Union

from tfx import types
from tfx.components.trainer import component as stock_component
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from recfusion.components.trainer import executor

EPOCHS_KEY = executor.EPOCHS_KEY


class RankerTrainerSpec(standard_component_specs.TrainerSpec):
  PARAMETERS = {**standard_component_specs.TrainerSpec.PARAMETERS,
                EPOCHS_KEY: ExecutionParameter(type=int, optional=True)}


class Trainer(stock_component.Trainer):
  SPEC_CLASS = RankerTrainerSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  # pylint: disable=super-init-not-called  (the stock __init__ builds the stock spec)
  def __init__(self, examples: types.BaseChannel, transform_graph: types.BaseChannel,
               schema: types.BaseChannel, run_fn: str, train_args: trainer_pb2.TrainArgs,
               eval_args: trainer_pb2.EvalArgs, custom_config: Dict[str, Any],
               base_model: Optional[types.BaseChannel] = None,
               epochs: Optional[Union[int, data_types.RuntimeParameter]] = None):
    """`epochs`: overrides custom_config's `epochs` when given."""
    spec = RankerTrainerSpec(
        examples=examples, transform_graph=transform_graph, schema=schema,
        base_model=base_model, train_args=train_args, eval_args=eval_args, run_fn=run_fn,
        custom_config=json_utils.dumps(custom_config), epochs=epochs,
        model=types.Channel(type=standard_artifacts.Model),
        model_run=types.Channel(type=standard_artifacts.ModelRun))
    base_component.BaseComponent.__init__(self, spec=spec)
