"""The one pipeline factory (docs/architecture.md §2): every runner builds its DAG here and adds only config."""
import contextlib
import importlib.resources
from typing import Any, Mapping, Optional, Sequence

from ml_metadata.proto import metadata_store_pb2
from tfx.components import ExampleValidator, StatisticsGen, Transform
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import trainer_pb2, transform_pb2

from recfusion import keys
from recfusion.components.baseline_lookup.component import BaselineLookup
from recfusion.components.evaluator.component import Evaluator
from recfusion.components.fusion.component import Fusion
from recfusion.components.inputs_check import component as inputs_check
from recfusion.components.inputs_check.component import InputsCheck
from recfusion.components.log_join_example_gen.component import LogJoinExampleGen
from recfusion.components.registry_pusher.component import RegistryPusher
from recfusion.components.run_report.component import RunReport
from recfusion.components.trainer.component import Trainer
from recfusion.components.strict_example_validator import executor as strict_validator
from recfusion.components.transform import executor as transform_executor
from recfusion.config import Config
from recfusion.evaluation import eval_config, gate
from recfusion.models import rankers as ranker_registry
from recfusion.models.fusion import fitting as fusion_fitting
from recfusion.pipeline import parameters as pipeline_parameters

PREPROCESSING_FN = 'recfusion.models.preprocessing.preprocessing_fn'


def trainer_id(ranker: str) -> str:
  return f'Trainer.{ranker}'


def gate_settings(config: Config) -> gate.Settings:
  e = config.evaluation
  return gate.Settings(ndcg10_floor=e.ndcg10_floor, tolerance=e.tolerance,
                       min_eval_requests=e.min_eval_requests, material_change=e.material_change,
                       member_tolerance=e.member_tolerance,
                       block_broken_members=e.block_broken_members,
                       max_coverage_drop=e.max_coverage_drop)


def curated_schema_path() -> str:
  return str(importlib.resources.files('recfusion.schemas').joinpath('schema.pbtxt'))


def create_pipeline(config: Config, data_dir: str, pipeline_root: str,
                    metadata_connection_config: Optional[
                        metadata_store_pb2.ConnectionConfig] = None,
                    beam_pipeline_args: Sequence[str] = (),
                    enable_cache: bool = True,
                    input_fingerprint: str = '',
                    registry_dir: str = '',
                    registry_state: str = '',
                    inputs_digest: str = '',
                    schema_file: Optional[str] = None,
                    parameters: Optional[Mapping[str, Any]] = None,
                    check_inputs: bool = False) -> tfx_pipeline.Pipeline:
  """The whole DAG of docs/architecture.md §2. `registry_dir` is the model registry of this pipeline.

  `parameters`: pipeline/parameters.py's settings by name, as plain values (the default: the
  config's) or as Kubeflow runtime parameters. `check_inputs`: InputsCheck first and everything
  else under its condition, for runners that cannot check before the run starts (Kubeflow).
  """
  # Unknown names fail here, before any component runs, with the config key named.
  rankers = {name: ranker_registry.get(name) for name in config.trainers}
  for name, ranker in rankers.items():
    ranker.check_hparams(config.trainers[name])
  fusion_fitting.check_method(config.fusion.method)
  data = config.data
  values = {**pipeline_parameters.values(config, data_dir), **(parameters or {})}
  check = None
  guard = contextlib.nullcontext()
  if check_inputs:
    check = InputsCheck(registry_dir=registry_dir, config_yaml=config.to_yaml(),
                        parameters=values)
    # Every other component runs only when InputsCheck found something new (KFP skips them).
    guard = Cond(check.outputs[inputs_check.RESULT].future()[0].custom_property(
        keys.INPUTS_CHANGED) == 1)
  with guard:
    example_gen = LogJoinExampleGen(
        input_base=values[pipeline_parameters.DATA_DIR],
        window_spans=values[pipeline_parameters.WINDOW_SPANS], split_mode=data.split.mode,
        split_fractions=data.split.fractions, split_spans=data.split.spans,
        negatives_per_request=data.negatives_per_request, history_max=data.history_max,
        on_unknown_item=data.on_unknown_item, earliest_timestamp=data.earliest_timestamp,
        seed=data.seed,
        input_fingerprint=input_fingerprint,
        user_id_key_source=data.pseudonymize_user_ids or '')
    statistics_gen = StatisticsGen(examples=example_gen.outputs['examples'])
    schema_gen = ImportSchemaGen(schema_file=schema_file or curated_schema_path())
    example_validator = ExampleValidator(statistics=statistics_gen.outputs['statistics'],
                                         schema=schema_gen.outputs['schema'])
    # The stock component with an executor that raises on anomalies (see its module).
    example_validator.executor_spec = executor_spec.ExecutorClassSpec(strict_validator.Executor)
    transform = Transform(
        examples=example_gen.outputs['examples'], schema=schema_gen.outputs['schema'],
        preprocessing_fn=PREPROCESSING_FN,
        # `eval` untransformed: nothing in the DAG reads it (15% of Transform's writing).
        splits_config=transform_pb2.SplitsConfig(analyze=[keys.TRAIN_SPLIT],
                                                  transform=list(keys.TRANSFORMED_SPLITS)),
        # TFX would run TFDV twice more here (pre-transform statistics of `train`, post-
        # transform statistics and anomalies of every split); nothing reads them, and
        # StatisticsGen already describes the examples.
        disable_statistics=True,
        # TFT keys its analyzer cache by the examples' folder, and LogJoinExampleGen writes
        # every window to a new one, so no later run could read the cache: writing it was
        # ten Beam stages and 2.6 s of a 20 s Transform at 1x, for nothing.
        disable_analyzer_cache=True,
        # Traced as a TF1 graph: TF2 tracing ran preprocessing_fn through tf.function ten
        # times (once per analysis phase, then for the saved graph), 80 of 160 s on a small
        # run; the TF1 graph does the same work (transformed examples equal to 2.4e-7) and
        # the Trainers and the fused model apply it through the same TransformFeaturesLayer.
        force_tf_compat_v1=True)
    # TFX's Transform less two traces of the preprocessing_fn that change nothing.
    transform.executor_spec = executor_spec.BeamExecutorSpec(transform_executor.Executor)
    # Transform does not read the anomalies; this edge is what makes bad data stop the run.
    transform.add_upstream_node(example_validator)

    baseline = BaselineLookup(registry_dir=registry_dir, registry_state=registry_state)
    trainers = {}
    for name, ranker in rankers.items():
      hparams = dict(config.trainers[name])
      # Warm start reads the production model; without it the Trainer stays cacheable when
      # only the registry changed.
      base_model = ({'base_model': baseline.outputs['baseline_model']}
                    if ranker.warm_starts and hparams.get('warm_start', True) else {})
      trainers[name] = Trainer(
          run_fn=ranker_registry.RUN_FN,
          examples=transform.outputs['transformed_examples'],
          transform_graph=transform.outputs['transform_graph'],
          schema=schema_gen.outputs['schema'],
          train_args=trainer_pb2.TrainArgs(splits=[keys.TRAIN_SPLIT]),
          eval_args=trainer_pb2.EvalArgs(splits=[keys.FUSION_SPLIT]),
          custom_config=ranker.custom_config(hparams),
          epochs=values.get(pipeline_parameters.epochs_parameter(name)),
          **base_model).with_id(trainer_id(name))
    fusion = Fusion(
        rankers={name: trainer.outputs['model'] for name, trainer in trainers.items()},
        transform_graph=transform.outputs['transform_graph'],
        examples=transform.outputs['transformed_examples'],
        method=config.fusion.method, grid_step=config.fusion.grid_step,
        prune_below=config.fusion.compact.prune_below)
    evaluator = Evaluator(
        examples=example_gen.outputs['examples'], model=fusion.outputs['model'],
        baseline_model=baseline.outputs['baseline_model'],
        eval_config=eval_config.build(config.evaluation.ndcg10_floor,
                                      config.evaluation.tolerance, rankers=list(rankers)),
        settings=gate_settings(config), example_splits=[keys.EVAL_SPLIT],
        ndcg10_floor=values[pipeline_parameters.NDCG10_FLOOR],
        tolerance=values[pipeline_parameters.TOLERANCE])
    pusher = RegistryPusher(
        model=fusion.outputs['model'], model_blessing=evaluator.outputs['blessing'],
        evaluation=evaluator.outputs['evaluation'], examples=example_gen.outputs['examples'],
        baseline_model=baseline.outputs['baseline_model'], registry_dir=registry_dir,
        inputs_digest=inputs_digest, max_compact_ndcg_loss=config.fusion.compact.max_ndcg_loss,
        inputs_check=check.outputs[inputs_check.RESULT] if check else None,
        statistics=statistics_gen.outputs['statistics'])
    report = RunReport(
        pipeline_name=config.pipeline.name, config_yaml=config.to_yaml(),
        model_runs={name: trainer.outputs['model_run'] for name, trainer in trainers.items()},
        evaluation=evaluator.outputs['evaluation'],
        model_blessing=evaluator.outputs['blessing'], fusion_report=fusion.outputs['fusion_report'],
        examples=example_gen.outputs['examples'], anomalies=example_validator.outputs['anomalies'],
        statistics=statistics_gen.outputs['statistics'],
        baseline_model=baseline.outputs['baseline_model'],
        pushed_model=pusher.outputs['pushed_model'])

  return tfx_pipeline.Pipeline(
      pipeline_name=config.pipeline.name,
      pipeline_root=pipeline_root,
      components=[*([check] if check else []), example_gen, statistics_gen, schema_gen,
                  example_validator, transform, baseline, *trainers.values(), fusion, evaluator,
                  pusher, report],
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args))
