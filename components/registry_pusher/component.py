"""RegistryPusher (docs/architecture.md §7): pushes only blessed models, as a new registry version, atomically.

Writes `<registry_dir>/<version>/` (whole-number versions, for TF Serving) and records the run
id, the data spans and the Evaluator's headline metrics in `<registry_dir>/index.json` (see
recfusion/registry.py). A model the Evaluator did not bless is never pushed, and neither is one
whose baseline (BaselineLookup's version) is no longer the registry's latest when it pushes:
the gate compared it with a model that is not in production any more.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from recfusion.artifact_types import InputsCheck
from recfusion.components.registry_pusher import executor


class RegistryPusherSpec(ComponentSpec):
  PARAMETERS = {'registry_dir': ExecutionParameter(type=str),
                # Recorded in the index so the next run can tell it has nothing new.
                'inputs_digest': ExecutionParameter(type=str, optional=True),
                # How much NDCG@10 the compact export may lose on eval and still be pushed.
                'max_compact_ndcg_loss': ExecutionParameter(type=float, optional=True)}
  INPUTS = {
      'model': ChannelParameter(type=standard_artifacts.Model),
      'model_blessing': ChannelParameter(type=standard_artifacts.ModelBlessing),
      'evaluation': ChannelParameter(type=standard_artifacts.ModelEvaluation),
      'examples': ChannelParameter(type=standard_artifacts.Examples),
      'baseline_model': ChannelParameter(type=standard_artifacts.Model, optional=True),
      # On Kubeflow the inputs digest is known at run time only: InputsCheck's artifact has it.
      'inputs_check': ChannelParameter(type=InputsCheck, optional=True),
      # Recorded with the version: later runs' reports compare their data with it.
      'statistics': ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
  }
  OUTPUTS = {'pushed_model': ChannelParameter(type=standard_artifacts.PushedModel)}


class RegistryPusher(base_component.BaseComponent):
  SPEC_CLASS = RegistryPusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel,
               evaluation: types.BaseChannel, examples: types.BaseChannel, registry_dir: str,
               baseline_model: types.BaseChannel = None, inputs_digest: str = '',
               max_compact_ndcg_loss: float = 0.0, inputs_check: types.BaseChannel = None,
               statistics: types.BaseChannel = None):
    super().__init__(spec=RegistryPusherSpec(
        model=model, model_blessing=model_blessing, evaluation=evaluation, examples=examples,
        baseline_model=baseline_model, registry_dir=registry_dir, inputs_digest=inputs_digest,
        inputs_check=inputs_check, statistics=statistics,
        max_compact_ndcg_loss=max_compact_ndcg_loss,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
