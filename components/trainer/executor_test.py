"""The Trainer's `epochs` parameter reaches run_fn's custom_config, and only when set."""
import json

import pytest
from tfx.types import standard_component_specs

from recfusion.components.trainer import executor

CUSTOM = standard_component_specs.CUSTOM_CONFIG_KEY


def test_epochs_replace_the_custom_configs_and_leave_the_rest():
  properties = {CUSTOM: json.dumps({'epochs': 6, 'ranker': 'text'}), 'run_fn': 'm.run_fn',
                executor.EPOCHS_KEY: 2}
  folded = executor.with_epochs(properties)
  assert json.loads(folded[CUSTOM]) == {'epochs': 2, 'ranker': 'text'}
  assert folded['run_fn'] == 'm.run_fn' and executor.EPOCHS_KEY not in folded
  # KFP hands whole numbers through JSON as doubles.
  assert json.loads(executor.with_epochs({**properties, 'epochs': 3.0})[CUSTOM])['epochs'] == 3


def test_without_the_parameter_nothing_changes():
  properties = {CUSTOM: json.dumps({'epochs': 6}), 'run_fn': 'm.run_fn'}
  assert executor.with_epochs(properties) == properties
  assert executor.with_epochs({**properties, executor.EPOCHS_KEY: None}) == properties


def test_zero_epochs_is_refused_naming_the_parameter():
  with pytest.raises(ValueError, match='the Trainer parameter epochs must be at least 1, got 0'):
    executor.with_epochs({CUSTOM: '{}', executor.EPOCHS_KEY: 0})


def test_the_component_carries_epochs_beside_the_stock_trainer_properties():
  from tfx import types
  from tfx.orchestration import data_types
  from tfx.proto import trainer_pb2
  from tfx.types import standard_artifacts
  from recfusion.components.trainer.component import Trainer
  channel = lambda kind: types.Channel(type=kind)  # noqa: E731
  epochs = data_types.RuntimeParameter(name='text_epochs', ptype=int, default=6)
  trainer = Trainer(examples=channel(standard_artifacts.Examples),
                    transform_graph=channel(standard_artifacts.TransformGraph),
                    schema=channel(standard_artifacts.Schema), run_fn='m.run_fn',
                    train_args=trainer_pb2.TrainArgs(splits=['train']),
                    eval_args=trainer_pb2.EvalArgs(splits=['validation']),
                    custom_config={'epochs': 6}, epochs=epochs)
  assert trainer.exec_properties[executor.EPOCHS_KEY] is epochs
  assert json.loads(trainer.exec_properties[CUSTOM]) == {'epochs': 6}
  assert trainer.executor_spec.executor_class is executor.Executor
  assert set(trainer.outputs) == {'model', 'model_run'}
