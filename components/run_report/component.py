"""RunReport: the run's model-analysis report as an HTML artifact of the DAG (docs/architecture.md §1.3).

The same report `recfusion report` renders, built from this run's artifacts only, so it is
produced wherever the DAG runs (locally, or on Kubeflow where the UI shows HTML artifacts).
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from recfusion.artifact_types import FusionReport, HTMLReport
from recfusion.components.run_report import executor


class RunReportSpec(ComponentSpec):
  PARAMETERS = {'pipeline_name': ExecutionParameter(type=str)}
  INPUTS = {
      'evaluation': ChannelParameter(type=standard_artifacts.ModelEvaluation),
      'model_blessing': ChannelParameter(type=standard_artifacts.ModelBlessing),
      'fusion_report': ChannelParameter(type=FusionReport),
      'examples': ChannelParameter(type=standard_artifacts.Examples),
      'anomalies': ChannelParameter(type=standard_artifacts.ExampleAnomalies),
      'baseline_model': ChannelParameter(type=standard_artifacts.Model),
      'pushed_model': ChannelParameter(type=standard_artifacts.PushedModel),
  }
  OUTPUTS = {'report': ChannelParameter(type=HTMLReport)}


class RunReport(base_component.BaseComponent):
  SPEC_CLASS = RunReportSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, pipeline_name: str, **channels: types.BaseChannel):
    super().__init__(spec=RunReportSpec(pipeline_name=pipeline_name,
                                        report=types.Channel(type=HTMLReport), **channels))
