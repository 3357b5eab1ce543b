"""ExampleValidator executor that stops the run when the examples have anomalies.

The stock ExampleValidator only records anomalies; nothing downstream reads them, so a run
would train on broken data. This executor runs the stock validation, then raises with a
readable list of every anomaly (split, feature, what is wrong) so the DAG stops before
Transform. The anomalies artifact is still written for inspection.
"""
import os
from typing import Any, Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.example_validator import executor as stock_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs

from recfusion.data.anomalies import describe_anomalies
from recfusion.data.contract import DataContractError


class DataAnomaliesError(DataContractError):
  """The produced examples do not match the curated schema."""


def read_anomalies(anomalies_artifact) -> Dict[str, anomalies_pb2.Anomalies]:
  by_split = {}
  for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
    path = os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split),
                        stock_executor.DEFAULT_FILE_NAME)
    anomalies = anomalies_pb2.Anomalies()
    with fileio.open(path, 'rb') as f:
      anomalies.ParseFromString(f.read())
    by_split[split] = anomalies
  return by_split


class Executor(stock_executor.Executor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]):
    result = super().Do(input_dict, output_dict, exec_properties)
    artifact = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.ANOMALIES_KEY])
    problems = []
    for split, anomalies in read_anomalies(artifact).items():
      problems += describe_anomalies(split, anomalies)
    if problems:
      raise DataAnomaliesError(
          'ExampleValidator found anomalies in the joined examples; the run stops before '
          f'Transform (details in {artifact.uri}):\n  ' + '\n  '.join(problems))
    return result
