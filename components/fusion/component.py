"""Fusion (DESIGN §6): learns how to combine the three rankers on `validation`, exports one model.

Inputs: the three Trainers' models, the Transform graph and the transformed examples (its
`validation` split). Outputs: the fused Model (see fused_model.py) and a FusionReport with the
weights and each model's and the fusion's NDCG@10 and AUC on `validation`.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from recfusion.components.fusion import executor


class FusionReport(types.Artifact):
  """JSON report of a fusion: method, weights, validation metrics per model and fused."""
  # On Kubeflow the TFX entrypoint imports a custom type by this name: recfusion/__init__.py
  # resolves it (KFP also wants exactly one dot in it).
  TYPE_NAME = 'recfusion.FusionReport'


class FusionSpec(ComponentSpec):
  PARAMETERS = {
      'method': ExecutionParameter(type=str),
      'grid_step': ExecutionParameter(type=float, optional=True),
  }
  INPUTS = {
      'text_model': ChannelParameter(type=standard_artifacts.Model),
      'dcn_model': ChannelParameter(type=standard_artifacts.Model),
      'sequence_model': ChannelParameter(type=standard_artifacts.Model),
      'transform_graph': ChannelParameter(type=standard_artifacts.TransformGraph),
      'examples': ChannelParameter(type=standard_artifacts.Examples),
  }
  OUTPUTS = {
      'model': ChannelParameter(type=standard_artifacts.Model),
      'fusion_report': ChannelParameter(type=FusionReport),
  }


class Fusion(base_component.BaseComponent):
  SPEC_CLASS = FusionSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, text_model: types.BaseChannel, dcn_model: types.BaseChannel,
               sequence_model: types.BaseChannel, transform_graph: types.BaseChannel,
               examples: types.BaseChannel, method: str = 'weighted', grid_step: float = 0.05):
    super().__init__(spec=FusionSpec(
        text_model=text_model, dcn_model=dcn_model, sequence_model=sequence_model,
        transform_graph=transform_graph, examples=examples, method=method,
        grid_step=grid_step,
        model=types.Channel(type=standard_artifacts.Model),
        fusion_report=types.Channel(type=FusionReport)))
