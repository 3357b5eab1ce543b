"""Compiles the DAG for open-source Kubeflow Pipelines v2 (KubeflowV2DagRunner, docs/architecture.md §8).

The same pipeline factory builds the DAG; this module only adds runner config:
  * one image for every component (`default_image_path`: the project is baked into it);
  * cpu/memory for every component and GPUs for the deep rankers' trainers (ResourceSpec), plus node
    selectors and tolerations for the GPU pool in KFP's kubernetes platform spec;
  * InputsCheck first, every other task under its condition: a run whose data files, config,
    runtime parameters and code are those of the production model stops there;
  * caching off for InputsCheck, LogJoinExampleGen and BaselineLookup, whose real inputs (the
    data folder, the registry) live outside the pipeline, so an identical task spec can mean
    new data;
  * the RunReport page typed `system.HTML`, which KFP's UI renders, and every task started
    through pipeline/kfp_executor.py, TFX's entrypoint taught that type.
Compiling needs no cluster, network or credentials. Outputs, in `output_dir`:
  pipeline_job.json   the PipelineJob JSON KubeflowV2DagRunner writes
  pipeline.yaml       what `kfp.Client` uploads: the pipeline spec, then the platform spec
"""
import json
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

from recfusion.config import Config, ConfigError

JOB_FILE = 'pipeline_job.json'
PIPELINE_FILE = 'pipeline.yaml'
INPUTS_CHECK_TASK = 'InputsCheck'
UNCACHED_TASKS = ('LogJoinExampleGen', 'BaselineLookup', INPUTS_CHECK_TASK)
# The tasks that read or write the registry volume (RunReport: the version history and the
# production model's data statistics on its page).
REGISTRY_TASKS = ('BaselineLookup', 'RegistryPusher', INPUTS_CHECK_TASK, 'RunReport')
EXAMPLE_GEN_TASK = 'LogJoinExampleGen'
REPORT_TASK, REPORT_OUTPUT = 'RunReport', 'report'
TFX_ENTRYPOINT = 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor'
HTML_ARTIFACT_TYPE = {'schemaTitle': 'system.HTML', 'schemaVersion': '0.0.1'}
TRAINER_PREFIX = 'Trainer.'
# The curated schema as the tasks see it inside the image. There the project is a regular
# (non-editable) install, so the schema is package data of `recfusion.schemas` somewhere under the
# image python's site-packages, and this compile runs on another machine that cannot ask that
# python where. So the Dockerfile resolves the installed file once, at image build time, with the
# same importlib.resources lookup as factory.curated_schema_path(), and links it to this fixed
# path (the build fails if the package lacks it). Not chosen: spelling out site-packages from the
# base image's python (breaks silently when the base image changes) or COPYing schemas/ into the
# image by hand (a second copy that can drift from the installed package).
IMAGE_SCHEMA_FILE = '/opt/recfusion/schema.pbtxt'


def _quantity(value: Any, key: str) -> float:
  """A Kubernetes quantity ('8Gi', '500m', 2), read by the Kubernetes client's own parser."""
  from kubernetes.utils import parse_quantity
  try:
    return float(parse_quantity(value))
  except (ValueError, TypeError) as e:
    raise ConfigError(f'{key}: {value!r} is not a Kubernetes quantity (for example 8Gi, 8G, '
                      '512Mi, 500m)') from e


def resource_spec(resources: Mapping[str, Any], section: str = 'kubeflow.resources'):
  """A KFP ResourceSpec from {'cpu': 2, 'memory': '8Gi', 'gpu': 1, 'gpu_resource': ...}."""
  from kfp.pipeline_spec import pipeline_spec_pb2
  spec_type = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec
  spec = spec_type(cpu_limit=_quantity(resources['cpu'], f'{section}.cpu'),
                   memory_limit=_quantity(resources['memory'], f'{section}.memory') / 2**30)
  if int(resources.get('gpu') or 0) > 0:
    spec.accelerator.type = resources.get('gpu_resource') or 'nvidia.com/gpu'
    spec.accelerator.count = int(resources['gpu'])
  return spec


def gpu_trainer_ids(config: Config) -> List[str]:
  """The Trainers whose ranker trains on a GPU (not the forest: TF-DF has no GPU training)."""
  from recfusion.models import rankers
  return [f'{TRAINER_PREFIX}{name}' for name in config.trainers if rankers.get(name).uses_gpu]


def cpu_only(resources: Mapping[str, Any]) -> Dict[str, Any]:
  return {k: v for k, v in resources.items() if k not in ('gpu', 'gpu_resource')}


def user_id_key_env(config: Config) -> Optional[str]:
  """The variable LogJoinExampleGen's pod reads the pseudonymization key from, when
  kubeflow.user_id_key_secret names the Secret it comes from."""
  secret = config.kubeflow.get('user_id_key_secret')
  if not secret:
    return None
  source = config.data.pseudonymize_user_ids or ''
  if not source.startswith('env:'):
    raise ValueError("kubeflow.user_id_key_secret gives the key as an environment variable: "
                     "data.pseudonymize_user_ids must be 'env:NAME', got " + repr(source or None))
  from recfusion.pipeline import beam_workers
  beam_args = config.kubeflow.get('beam_args') or []
  if not beam_workers.runs_direct(beam_args):
    # The variable is set in LogJoinExampleGen's pod only; another runner's workers read the
    # event files and would have no key.
    raise ValueError('kubeflow.user_id_key_secret gives the key to LogJoinExampleGen\'s pod '
                     f'only, but kubeflow.beam_args runs Beam on {beam_workers.runner(beam_args)}, '
                     'whose workers read the event files: give them the key there '
                     '(data.pseudonymize_user_ids names where) and leave '
                     'kubeflow.user_id_key_secret unset')
  return source[len('env:'):]


def platform_spec(job: Dict[str, Any], settings: Mapping[str, Any],
                  gpu_tasks: Sequence[str] = ()) -> Dict[str, Any]:
  """kfp-kubernetes executor config: GPU trainers (`gpu_tasks`) go to the GPU pool; the tasks
  that read or write the model registry mount its volume."""
  executors: Dict[str, Dict[str, Any]] = {}
  tasks = job['pipelineSpec']['root']['dag']['tasks']
  components = job['pipelineSpec']['components']
  trainer_settings = settings['trainer_resources']
  for name, task in tasks.items():
    label = components[task['componentRef']['name']]['executorLabel']
    config: Dict[str, Any] = {}
    if name in gpu_tasks:
      if trainer_settings.get('node_selector'):
        config['nodeSelector'] = {'labels': dict(trainer_settings['node_selector'])}
      if trainer_settings.get('tolerations'):
        config['tolerations'] = [dict(t) for t in trainer_settings['tolerations']]
    if name == EXAMPLE_GEN_TASK and settings.get('user_id_key_secret'):
      secret = settings['user_id_key_secret']
      config['secretAsEnv'] = [{'secretName': secret['name'], 'keyToEnv': [
          {'secretKey': secret['key'], 'envVar': settings['user_id_key_env']}]}]
    if name in REGISTRY_TASKS and settings.get('registry_pvc'):
      config['pvcMount'] = [{'constant': settings['registry_pvc'],
                             'mountPath': settings['registry_mount']}]
    if config:
      executors[label] = config
  return {'platforms': {'kubernetes': {'deploymentSpec': {'executors': executors}}}}


class _InvertedImageWarning(logging.Filter):
  """TFX 1.16 warns 'DEFAULT_IMAGE_PATH_KEY is not found' exactly when the key *is* given
  (its check is inverted); the warning would send users hunting for a non-problem."""

  def filter(self, record: logging.LogRecord) -> bool:
    return 'DEFAULT_IMAGE_PATH_KEY is not found' not in record.getMessage()


def compile_pipeline(config: Config, image: str, pipeline_root: str, output_dir: str,
                     schema_file: Optional[str] = None) -> Dict[str, str]:
  """`schema_file`: the curated schema's path where the tasks run (default: IMAGE_SCHEMA_FILE,
  the installed package's schema in the image)."""
  from absl import logging as absl_logging
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kubeflow_v2

  from recfusion.pipeline import beam_workers, parameters
  from recfusion.pipeline.factory import create_pipeline

  settings = {**config.kubeflow, 'user_id_key_env': user_id_key_env(config)}
  if not config.data.dir:
    raise ValueError('data.dir must name the data folder as the cluster sees it '
                     '(for example --set data.dir=gs://bucket/shop or a mounted path)')
  registry_root = config.push.dir or settings['registry_mount']
  runtime_parameters = parameters.runtime(config, config.data.dir)
  pipeline = create_pipeline(
      config, data_dir=config.data.dir, pipeline_root=pipeline_root,
      registry_dir=f'{registry_root.rstrip("/")}/{config.pipeline.name}',
      schema_file=schema_file or IMAGE_SCHEMA_FILE,
      beam_pipeline_args=beam_workers.on_cluster(
          [f'--pickle_library={config.beam.pickle_library}', *settings['beam_args']], image),
      # What operators change per run is a runtime parameter: no recompiling for it.
      parameters=runtime_parameters,
      # A run with nothing new is InputsCheck alone: KFP skips the rest.
      check_inputs=True)
  gpu_tasks = gpu_trainer_ids(config)
  for component in pipeline.components:
    is_trainer = component.id.startswith(TRAINER_PREFIX)
    resources = settings['trainer_resources'] if is_trainer else settings['resources']
    if is_trainer and component.id not in gpu_tasks:
      resources = cpu_only(resources)  # a trainer's cpu and memory, no GPU it cannot use
    component.with_platform_config(resource_spec(
        resources, 'kubeflow.trainer_resources' if is_trainer else 'kubeflow.resources'))

  os.makedirs(output_dir, exist_ok=True)
  runner = kubeflow_v2.KubeflowV2DagRunner(
      config=kubeflow_v2.KubeflowV2DagRunnerConfig(
          default_image={'default_image_path': image},
          # Pipeline spec 2.1: typed parameters (parameterType, parameterValues), the format
          # KFP 2's SDK writes and its backend hands to tasks.
          use_pipeline_spec_2_1=True),
      output_dir=output_dir, output_filename=JOB_FILE)
  quiet = _InvertedImageWarning()
  absl_logging.get_absl_logger().addFilter(quiet)
  try:
    runner.run(pipeline, write_out=True)
  finally:
    absl_logging.get_absl_logger().removeFilter(quiet)

  job_path = os.path.join(output_dir, JOB_FILE)
  with open(job_path) as f:
    job = json.load(f)
  for name in UNCACHED_TASKS:
    job['pipelineSpec']['root']['dag']['tasks'][name]['cachingOptions'] = {'enableCache': False}
  retries = int(settings.get('retries') or 0)
  if retries:
    for task in job['pipelineSpec']['root']['dag']['tasks'].values():
      task['retryPolicy'] = {'maxRetryCount': retries, 'backoffDuration': '60s',
                             'backoffFactor': 2, 'backoffMaxDuration': '600s'}
  _render_report_in_kfp_ui(job['pipelineSpec'])
  _declare_defaults(job['pipelineSpec'], runtime_parameters)
  with open(job_path, 'w') as f:
    json.dump(job, f, indent=2, sort_keys=True)
  pipeline_path = os.path.join(output_dir, PIPELINE_FILE)
  with open(pipeline_path, 'w') as f:
    yaml.safe_dump_all([job['pipelineSpec'],
                        platform_spec(job, settings, gpu_tasks)], f, sort_keys=True)
  return {'job': job_path, 'pipeline': pipeline_path}


def _declare_defaults(spec: Dict[str, Any], runtime_parameters: Mapping[str, Any]) -> None:
  """TFX declares runtime parameters without their defaults (it expects them in each run's
  runtime config): the config's values become the defaults, so a run given no parameters is
  the compiled config, and the KFP UI shows what each one is."""
  declared = spec['root'].setdefault('inputDefinitions', {}).setdefault('parameters', {})
  for name, parameter in runtime_parameters.items():
    declared[name].update(defaultValue=parameter.default, isOptional=True,
                          description=parameter.description)


def _render_report_in_kfp_ui(spec: Dict[str, Any]) -> None:
  """Types the RunReport output `system.HTML` and starts every task through the entrypoint
  that knows that type (pipeline/kfp_executor.py)."""
  from recfusion.pipeline import kfp_executor
  task = spec['root']['dag']['tasks'][REPORT_TASK]
  outputs = spec['components'][task['componentRef']['name']]['outputDefinitions']['artifacts']
  outputs[REPORT_OUTPUT]['artifactType'] = dict(HTML_ARTIFACT_TYPE)
  for executor in spec['deploymentSpec']['executors'].values():
    container = executor['container']
    container['command'] = [kfp_executor.MODULE if part == TFX_ENTRYPOINT else part
                            for part in container.get('command', [])]


def declared_parameters(pipeline_spec: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
  """The compiled pipeline's runtime parameters: name -> {parameterType, defaultValue}."""
  return dict(pipeline_spec.get('root', {}).get('inputDefinitions', {}).get('parameters', {}))


def read_declared_parameters(package: str) -> Dict[str, Dict[str, Any]]:
  """declared_parameters of a compiled pipeline.yaml (its first document is the spec)."""
  with open(package) as f:
    spec = next(yaml.safe_load_all(f))
  return declared_parameters(spec)


def executor_class_paths(job: Dict[str, Any]) -> List[str]:
  paths = []
  for executor in job['pipelineSpec']['deploymentSpec']['executors'].values():
    args = executor['container']['args']
    paths.append(args[args.index('--executor_class_path') + 1])
  return paths
