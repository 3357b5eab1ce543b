"""RunReport: the run's model-analysis report as an HTML artifact of the DAG (docs/architecture.md §1.3).

The same report `recfusion report` renders, built from this run's artifacts only, so it is
produced wherever the DAG runs (locally, or on Kubeflow where the UI shows HTML artifacts).
"""
import functools
from typing import Mapping, Optional, Tuple

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from recfusion.artifact_types import FusionReport, HTMLReport
from recfusion.components.run_report import executor


def model_run_key(ranker: str) -> str:
  return executor.MODEL_RUN_PREFIX + ranker


_INPUTS = {
    'evaluation': ChannelParameter(type=standard_artifacts.ModelEvaluation),
    'model_blessing': ChannelParameter(type=standard_artifacts.ModelBlessing),
    'fusion_report': ChannelParameter(type=FusionReport),
    'examples': ChannelParameter(type=standard_artifacts.Examples),
    'anomalies': ChannelParameter(type=standard_artifacts.ExampleAnomalies),
    # Compared with the production model's (recfusion/report/drift.py).
    'statistics': ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
    'baseline_model': ChannelParameter(type=standard_artifacts.Model),
    'pushed_model': ChannelParameter(type=standard_artifacts.PushedModel),
}


@functools.lru_cache(maxsize=None)
def spec_class(rankers: Tuple[str, ...]) -> type:
  """The spec for these rankers: one ModelRun input per Trainer (its TensorBoard logs and warm
  start, for the training section). TFX specs declare inputs as class attributes, so each set
  of rankers gets its own class, as Fusion's does."""
  return type('RunReportSpec', (ComponentSpec,), {
      # The run's resolved config (Config.to_yaml(): secrets redacted), shown on the page.
      'PARAMETERS': {'pipeline_name': ExecutionParameter(type=str),
                     'config_yaml': ExecutionParameter(type=str, optional=True)},
      'INPUTS': {**_INPUTS, **{model_run_key(name): ChannelParameter(
          type=standard_artifacts.ModelRun, optional=True) for name in rankers}},
      'OUTPUTS': {'report': ChannelParameter(type=HTMLReport)},
  })


class RunReport(base_component.BaseComponent):
  SPEC_CLASS = ComponentSpec  # replaced per instance by spec_class(rankers)
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, pipeline_name: str, config_yaml: str = '',
               model_runs: Optional[Mapping[str, types.BaseChannel]] = None,
               **channels: types.BaseChannel):
    model_runs = dict(model_runs or {})
    spec_cls = spec_class(tuple(sorted(model_runs)))
    self.SPEC_CLASS = spec_cls  # pylint: disable=invalid-name  (TFX checks the spec's class)
    super().__init__(spec=spec_cls(
        pipeline_name=pipeline_name, config_yaml=config_yaml,
        report=types.Channel(type=HTMLReport), **channels,
        **{model_run_key(name): channel for name, channel in model_runs.items()}))
