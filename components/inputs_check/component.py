"""InputsCheck (Kubeflow only): is there anything new to learn since the production model?

A compiled pipeline runs whenever KFP starts it (a recurring run, the retrain CronJob, a manual
submit), so the "nothing new" rule of `recfusion run` has to hold inside the DAG: this task
computes the run's inputs digest (the data files, the compiled config with this run's runtime
parameter values, recfusion's code) and compares it with the one the registry's newest version
was pushed with. The factory puts every other component under a `Cond` on its `changed`
property, so an unchanged run is this one task, and KFP marks the rest skipped. Locally the
same digest is checked before the DAG starts (pipeline/local_runner.unchanged_since), which
costs no task at all.

The runtime parameters are this component's execution parameters, one each, so KFP hands it
the run's values; which ones exist depends on the configured rankers (one `<ranker>_epochs`
each), so the spec class is made per pipeline (`InputsCheck(..., parameters=...)`).
"""
from typing import Any, Mapping

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from recfusion.artifact_types import InputsCheck as InputsCheckArtifact
from recfusion.components.inputs_check import executor

RESULT = 'result'


class InputsCheckSpec(ComponentSpec):
  PARAMETERS = {
      'registry_dir': ExecutionParameter(type=str),
      # Config.to_yaml() of the compiled config (secrets redacted).
      'config_yaml': ExecutionParameter(type=str),
      # 1: run anyway (`recfusion submit --param force=1`).
      executor.FORCE: ExecutionParameter(type=int, optional=True),
  }
  INPUTS = {}
  OUTPUTS = {RESULT: ChannelParameter(type=InputsCheckArtifact)}


def _parameter_type(value: Any) -> type:
  """A runtime parameter's declared type, or a plain value's own."""
  return getattr(value, 'ptype', None) or type(value)


class InputsCheck(base_component.BaseComponent):
  SPEC_CLASS = InputsCheckSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, registry_dir: str, config_yaml: str, parameters: Mapping[str, Any]):
    """`parameters`: pipeline/parameters.py's settings by name (plain values or KFP runtime
    parameters); `data_dir` among them, `force` optional."""
    settings = {name: value for name, value in parameters.items() if name != executor.FORCE}
    spec_class = type('InputsCheckSpec', (InputsCheckSpec,), {'PARAMETERS': {
        **InputsCheckSpec.PARAMETERS,
        **{name: ExecutionParameter(type=_parameter_type(value))
           for name, value in settings.items()}}})
    super().__init__(spec=spec_class(
        registry_dir=registry_dir, config_yaml=config_yaml,
        **({executor.FORCE: parameters[executor.FORCE]} if executor.FORCE in parameters else {}),
        **settings, result=types.Channel(type=InputsCheckArtifact)))
