"""Fusion: learns how to combine the rankers on `validation` and exports one model.

Inputs: one Model channel per ranker (`<ranker>_model`, as many as the run trains), the
Transform graph and the transformed examples (its `validation` split). Outputs: the fused Model
(recfusion/models/fusion/fused_model.py), with its compact export beside it when `prune_below`
is set (recfusion/models/fusion/compact.py), and a FusionReport with the weights and each
model's and the fusion's NDCG@10 and AUC on `validation`.
"""
import functools
from typing import Mapping, Optional, Tuple

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from recfusion.artifact_types import FusionReport
from recfusion.components.fusion import executor


@functools.lru_cache(maxsize=None)
def spec_class(rankers: Tuple[str, ...]) -> type:
  """The ComponentSpec for these rankers: TFX specs declare their inputs as class attributes,
  so each set of rankers gets its own (cached, so equal sets share one class)."""
  inputs = {executor.ranker_input_key(name): ChannelParameter(type=standard_artifacts.Model)
            for name in rankers}
  inputs['transform_graph'] = ChannelParameter(type=standard_artifacts.TransformGraph)
  inputs['examples'] = ChannelParameter(type=standard_artifacts.Examples)
  return type('FusionSpec', (ComponentSpec,), {
      'PARAMETERS': {
          'method': ExecutionParameter(type=str),
          'grid_step': ExecutionParameter(type=float),
          # The compact export's threshold (fusion.compact.prune_below); absent: none.
          'prune_below': ExecutionParameter(type=float, optional=True),
      },
      'INPUTS': inputs,
      'OUTPUTS': {
          'model': ChannelParameter(type=standard_artifacts.Model),
          'fusion_report': ChannelParameter(type=FusionReport),
      },
  })


class Fusion(base_component.BaseComponent):
  SPEC_CLASS = ComponentSpec  # replaced per instance by spec_class(rankers)
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, rankers: Mapping[str, types.BaseChannel],
               transform_graph: types.BaseChannel, examples: types.BaseChannel, method: str,
               grid_step: float, prune_below: Optional[float] = None):
    if not rankers:
      raise ValueError('Fusion needs at least one ranker')
    spec_cls = spec_class(tuple(sorted(rankers)))
    self.SPEC_CLASS = spec_cls  # pylint: disable=invalid-name  (TFX checks the spec's class)
    super().__init__(spec=spec_cls(
        **{executor.ranker_input_key(name): channel for name, channel in rankers.items()},
        transform_graph=transform_graph, examples=examples, method=method,
        grid_step=grid_step, prune_below=prune_below,
        model=types.Channel(type=standard_artifacts.Model),
        fusion_report=types.Channel(type=FusionReport)))
