"""BaselineLookup (docs/architecture.md §2, §8): finds the model currently in production, or reports none.

The latest pushed version of the registry is the production model. Its output is a Model
artifact with custom property `found` (0 or 1); the Evaluator compares against it only when
found. This replaces a TFX Resolver node, which open-source KFP v2 cannot run, and behaves the
same locally and on Kubeflow.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from recfusion.components.baseline_lookup import executor


class BaselineLookupSpec(ComponentSpec):
  PARAMETERS = {
      'registry_dir': ExecutionParameter(type=str),
      # Fingerprint of the registry index when the pipeline was built: a push changes it, so
      # a cached lookup is never reused after the registry changed.
      'registry_state': ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {}
  OUTPUTS = {'baseline_model': ChannelParameter(type=standard_artifacts.Model)}


class BaselineLookup(base_component.BaseComponent):
  SPEC_CLASS = BaselineLookupSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, registry_dir: str, registry_state: str = ''):
    super().__init__(spec=BaselineLookupSpec(
        registry_dir=registry_dir, registry_state=registry_state,
        baseline_model=types.Channel(type=standard_artifacts.Model)))
