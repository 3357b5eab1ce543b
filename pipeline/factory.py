"""The one pipeline factory (DESIGN §2): every runner builds its DAG here and adds only config."""
import importlib.resources
from typing import Optional, Sequence

from ml_metadata.proto import metadata_store_pb2
from tfx.components import ExampleValidator, StatisticsGen, Transform
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import transform_pb2

from recfusion.components.log_join_example_gen.component import LogJoinExampleGen
from recfusion.components.strict_example_validator import executor as strict_validator
from recfusion.config import Config

PREPROCESSING_FN = 'recfusion.components.transform.preprocessing.preprocessing_fn'
SPLITS = ['train', 'validation', 'eval']


def curated_schema_path() -> str:
  return str(importlib.resources.files('recfusion.schemas').joinpath('schema.pbtxt'))


def create_pipeline(config: Config, data_dir: str, pipeline_root: str,
                    metadata_connection_config: Optional[
                        metadata_store_pb2.ConnectionConfig] = None,
                    beam_pipeline_args: Sequence[str] = (),
                    enable_cache: bool = True,
                    input_fingerprint: str = '') -> tfx_pipeline.Pipeline:
  data = config.data
  example_gen = LogJoinExampleGen(
      input_base=data_dir, window_spans=data.window_spans, split_mode=data.split.mode,
      split_fractions=data.split.fractions, split_spans=data.split.spans,
      negatives_per_request=data.negatives_per_request, history_max=data.history_max,
      on_unknown_item=data.on_unknown_item, seed=data.seed,
      input_fingerprint=input_fingerprint)
  statistics_gen = StatisticsGen(examples=example_gen.outputs['examples'])
  schema_gen = ImportSchemaGen(schema_file=curated_schema_path())
  example_validator = ExampleValidator(statistics=statistics_gen.outputs['statistics'],
                                       schema=schema_gen.outputs['schema'])
  # The stock component with an executor that raises on anomalies (see its module).
  example_validator.executor_spec = executor_spec.ExecutorClassSpec(strict_validator.Executor)
  transform = Transform(
      examples=example_gen.outputs['examples'], schema=schema_gen.outputs['schema'],
      preprocessing_fn=PREPROCESSING_FN,
      splits_config=transform_pb2.SplitsConfig(analyze=['train'], transform=SPLITS))
  # Transform does not read the anomalies; this edge is what makes bad data stop the run.
  transform.add_upstream_node(example_validator)

  return tfx_pipeline.Pipeline(
      pipeline_name=config.pipeline.name,
      pipeline_root=pipeline_root,
      components=[example_gen, statistics_gen, schema_gen, example_validator, transform],
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args))
