"""The compiled Kubeflow spec, asserted: task graph, resources, GPU pool, executors, image."""
import importlib
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from recfusion.config import ConfigError, load_config
from recfusion.pipeline import kubeflow_runner

IMAGE = 'registry.example/recfusion:test'
RANKERS = ('Trainer.text', 'Trainer.dcn', 'Trainer.sequence')  # the GPU-trained deep rankers
FOREST = 'Trainer.gbt'


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  out = tmp_path_factory.mktemp('kfp')
  config = load_config(overrides=['data.dir=gs://shop-bucket/data'])
  paths = kubeflow_runner.compile_pipeline(config, IMAGE, 'gs://shop-bucket/root', str(out))
  with open(paths['job']) as f:
    job = json.load(f)
  with open(paths['pipeline']) as f:
    pipeline_spec, platform = list(yaml.safe_load_all(f))
  return job, pipeline_spec, platform


def _tasks(job):
  return job['pipelineSpec']['root']['dag']['tasks']


def _executor(job, task):
  label = job['pipelineSpec']['components'][_tasks(job)[task]['componentRef']['name']][
      'executorLabel']
  return job['pipelineSpec']['deploymentSpec']['executors'][label]


def test_trainers_are_independent_and_fusion_waits_for_all_three(compiled):
  job = compiled[0]
  tasks = _tasks(job)
  for ranker in RANKERS:
    upstream = set(tasks[ranker]['dependentTasks'])
    # BaselineLookup: the production model to warm-start from (trainers.*.warm_start);
    # InputsCheck: its condition (below).
    assert upstream == {'Transform', 'ImportSchemaGen', 'BaselineLookup', 'InputsCheck'}
  # Trees never warm start: no edge to the production model.
  assert set(tasks[FOREST]['dependentTasks']) == {'Transform', 'ImportSchemaGen', 'InputsCheck'}
  assert {*RANKERS, FOREST} <= set(tasks['Fusion']['dependentTasks'])
  assert {'Fusion', 'BaselineLookup'} <= set(tasks['Evaluator']['dependentTasks'])


def test_only_container_executors_one_image_and_no_resolver_or_driver_hooks(compiled):
  job = compiled[0]
  executors = job['pipelineSpec']['deploymentSpec']['executors']
  assert len(executors) == len(_tasks(job)) == 15
  for executor in executors.values():
    assert set(executor) == {'container'}
    assert executor['container']['image'] == IMAGE
  text = json.dumps(job)
  assert 'resolver' not in text.lower()
  assert 'preCacheCheck' not in text and 'lifecycle' not in text


def test_every_task_but_the_inputs_check_runs_only_when_it_found_something_new(compiled):
  tasks = _tasks(compiled[0])
  assert 'triggerPolicy' not in tasks['InputsCheck']
  for name, task in tasks.items():
    if name != 'InputsCheck':
      assert 'InputsCheck' in task['dependentTasks'], name
      assert re.fullmatch(r"\(inputs\.artifacts\['[\w.]+'\]\.artifacts\[0\]"
                          r"\.metadata\['changed'\] == 1\.0\)",
                          task['triggerPolicy']['condition']), name
  # Every runtime parameter reaches the check: a run with other epochs or data is new.
  parameters = tasks['InputsCheck']['inputs']['parameters']
  declared = compiled[0]['pipelineSpec']['root']['inputDefinitions']['parameters']
  assert {n: p['componentInputParameter'] for n, p in parameters.items()
          if 'componentInputParameter' in p} == {n: n for n in declared}


def test_every_executor_class_is_importable(compiled):
  for path in kubeflow_runner.executor_class_paths(compiled[0]):
    module, _, name = path.rpartition('.')
    assert hasattr(importlib.import_module(module), name), path


def test_trainers_request_gpus_and_others_cpu_memory(compiled):
  job = compiled[0]
  for ranker in RANKERS:
    resources = _executor(job, ranker)['container']['resources']
    assert resources['accelerator'] == {'count': '1', 'type': 'nvidia.com/gpu'}
    assert resources['cpuLimit'] == 4.0 and resources['memoryLimit'] == 16.0
  # The forest trains on CPU: a trainer's cpu and memory, no GPU.
  forest = _executor(job, FOREST)['container']['resources']
  assert 'accelerator' not in forest
  assert forest['cpuLimit'] == 4.0 and forest['memoryLimit'] == 16.0
  transform = _executor(job, 'Transform')['container']['resources']
  assert 'accelerator' not in transform and transform['cpuLimit'] == 2.0


def test_gpu_trainers_are_pinned_to_the_gpu_pool_in_the_platform_spec(compiled):
  job, _, platform = compiled
  executors = platform['platforms']['kubernetes']['deploymentSpec']['executors']
  labels = {job['pipelineSpec']['components'][_tasks(job)[r]['componentRef']['name']][
      'executorLabel'] for r in RANKERS}
  registry_labels = {'BaselineLookup_executor', 'RegistryPusher_executor',
                     'InputsCheck_executor', 'RunReport_executor'}
  assert set(executors) == labels | registry_labels
  for label in labels:
    config = executors[label]
    assert config['nodeSelector'] == {'labels': {'nvidia.com/gpu.present': 'true'}}
    assert config['tolerations'] == [{'key': 'nvidia.com/gpu', 'operator': 'Exists',
                                      'effect': 'NoSchedule'}]
  for label in registry_labels:
    assert executors[label] == {'pvcMount': [{'constant': 'recfusion-registry',
                                              'mountPath': '/registry'}]}


def _task_pod(job, platform, task, argo):
  """The pod Argo creates for one task: its pod-level defaults (`workflowDefaults`), Argo's init
  and wait containers (`executor`), the task's container (`mainContainer`), the volumes Argo
  adds and those the platform spec asks for. (KFP's own launcher container is KFP's to secure.)"""
  label = job['pipelineSpec']['components'][_tasks(job)[task]['componentRef']['name']][
      'executorLabel']
  container = _executor(job, task)['container']
  config = platform['platforms']['kubernetes']['deploymentSpec']['executors'].get(label, {})
  executor_context = argo.get('executor', {}).get('securityContext')
  pod = {
      'securityContext': argo.get('workflowDefaults', {}).get('spec', {}).get('securityContext'),
      'initContainers': [{'name': 'init', 'image': 'argoexec',
                          'securityContext': executor_context}],
      'containers': [
          {'name': 'main', 'image': container['image'], 'command': container['command'],
           'securityContext': argo.get('mainContainer', {}).get('securityContext')},
          {'name': 'wait', 'image': 'argoexec', 'securityContext': executor_context}],
      'volumes': [{'name': 'var-run-argo', 'emptyDir': {}}] + [
          {'name': mount['constant'], 'persistentVolumeClaim': {'claimName': mount['constant']}}
          for mount in config.get('pvcMount', [])]}
  return {k: v for k, v in pod.items() if v is not None}


def test_every_task_pod_is_admitted_by_the_restricted_profile(
    compiled, restricted_pipeline_pod_settings, pod_security):
  job, _, platform = compiled
  for task in _tasks(job):
    assert pod_security(_task_pod(job, platform, task, restricted_pipeline_pod_settings)) == [], \
        task
  # Without kubernetes/components/restricted-pipeline-pods, the namespace refuses them.
  bare = pod_security(_task_pod(job, platform, 'RegistryPusher', {}))
  assert 'container main: runAsNonRoot is not true' in bare


def test_tasks_reading_outside_state_are_never_cached_and_all_retry(compiled):
  tasks = _tasks(compiled[0])
  assert tasks['LogJoinExampleGen']['cachingOptions'] == {'enableCache': False}
  assert tasks['BaselineLookup']['cachingOptions'] == {'enableCache': False}
  assert tasks['InputsCheck']['cachingOptions'] == {'enableCache': False}
  assert tasks['Transform']['cachingOptions'] == {'enableCache': True}
  assert all(t['retryPolicy']['maxRetryCount'] == 2 for t in tasks.values())


def test_paths_are_the_clusters_not_this_machines(compiled):
  tasks = _tasks(compiled[0])
  parameters = tasks['ImportSchemaGen']['inputs']['parameters']
  schema_file = parameters['schema_file']['runtimeValue']['constant']
  assert schema_file == kubeflow_runner.IMAGE_SCHEMA_FILE == '/opt/recfusion/schema.pbtxt'
  # The data folder is a runtime parameter whose default is the cluster's path.
  example_gen = tasks['LogJoinExampleGen']['inputs']['parameters']
  assert example_gen['input_base'] == {'componentInputParameter': 'data_dir'}
  declared = kubeflow_runner.declared_parameters(compiled[0]['pipelineSpec'])
  assert declared['data_dir']['defaultValue'] == 'gs://shop-bucket/data'
  pusher = tasks['RegistryPusher']['inputs']['parameters']
  assert pusher['registry_dir']['runtimeValue']['constant'] == '/registry/recfusion'
  assert compiled[1] == compiled[0]['pipelineSpec']


def test_what_operators_change_per_run_are_runtime_parameters_with_config_defaults(compiled):
  spec = compiled[0]['pipelineSpec']
  assert spec['schemaVersion'] == '2.1.0'
  declared = kubeflow_runner.declared_parameters(spec)
  config = load_config()
  assert {name: (d['parameterType'], d['defaultValue']) for name, d in declared.items()} == {
      'data_dir': ('STRING', 'gs://shop-bucket/data'),
      'window_spans': ('NUMBER_INTEGER', config.data.window_spans),
      'ndcg10_floor': ('NUMBER_DOUBLE', config.evaluation.ndcg10_floor),
      'tolerance': ('NUMBER_DOUBLE', config.evaluation.tolerance),
      # 1: run even when nothing is new (InputsCheck).
      'force': ('NUMBER_INTEGER', 0),
      # One per ranker trained in epochs; the forest (gbt) has none.
      'text_epochs': ('NUMBER_INTEGER', config.trainers['text']['epochs']),
      'dcn_epochs': ('NUMBER_INTEGER', config.trainers['dcn']['epochs']),
      'sequence_epochs': ('NUMBER_INTEGER', config.trainers['sequence']['epochs'])}
  assert all(d['isOptional'] and d['description'] for d in declared.values())
  tasks = _tasks(compiled[0])
  assert tasks['LogJoinExampleGen']['inputs']['parameters']['window_spans'] == {
      'componentInputParameter': 'window_spans'}
  assert tasks['Trainer.dcn']['inputs']['parameters']['epochs'] == {
      'componentInputParameter': 'dcn_epochs'}
  assert 'epochs' not in tasks['Trainer.gbt']['inputs']['parameters']
  evaluator = tasks['Evaluator']['inputs']['parameters']
  assert (evaluator['ndcg10_floor'], evaluator['tolerance']) == (
      {'componentInputParameter': 'ndcg10_floor'}, {'componentInputParameter': 'tolerance'})


DOCKERFILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'Dockerfile')


def _dockerfile_text():
  if not os.path.exists(DOCKERFILE):
    pytest.skip('no Dockerfile next to this checkout')
  with open(DOCKERFILE) as f:
    return f.read()


def test_the_image_links_the_installed_schema_where_the_spec_looks():
  """The spec's schema path is made in the image by resolving the installed package's schema
  (the Dockerfile's own lookup, run here against this install), not by a checkout path."""
  from recfusion.pipeline.factory import curated_schema_path
  text = _dockerfile_text()
  lookup = re.search(r'schema="\$\(python -c \'([^\']+)\'\)"', text)
  assert lookup, 'the Dockerfile no longer resolves the installed schema'
  resolved = subprocess.run([sys.executable, '-c', lookup.group(1)], check=True,
                            capture_output=True, text=True).stdout.strip()
  assert os.path.isfile(resolved) and os.path.samefile(resolved, curated_schema_path())
  assert re.search(r'ln -s "\$schema" ' + re.escape(kubeflow_runner.IMAGE_SCHEMA_FILE) + r'\b',
                   text)


def test_the_image_installs_the_runtime_lock_and_a_regular_install_of_the_project():
  text = _dockerfile_text()
  installs = [line for line in text.splitlines() if 'pip install' in line]
  assert any('-r /tmp/requirements.lock' in line for line in installs)
  assert not any('requirements-dev' in line for line in installs)
  assert not any(re.search(r'\s(-e|--editable)\b', line) for line in installs)


def test_compile_without_a_data_dir_is_a_usage_error(tmp_path):
  with pytest.raises(ValueError, match='data.dir must name the data folder'):
    kubeflow_runner.compile_pipeline(load_config(), IMAGE, 'gs://b/root', str(tmp_path))


def test_custom_artifact_types_resolve_by_their_spec_title(compiled):
  """The TFX entrypoint on the cluster imports a custom artifact type by its schema title."""
  import re
  from tfx.utils import import_utils
  titles = set(re.findall(r'title: ([\w.]+)', json.dumps(compiled[0])))
  custom = {t for t in titles if not t.startswith('tfx.')}
  assert custom == {'recfusion.FusionReport', 'recfusion.InputsCheck'}
  for title in custom:
    assert import_utils.import_class_by_path(title).TYPE_NAME == title


def test_the_run_report_is_an_html_artifact_kfp_renders_and_every_task_knows_its_type(
    compiled, monkeypatch):
  job = compiled[0]
  spec = job['pipelineSpec']
  component = spec['components'][_tasks(job)['RunReport']['componentRef']['name']]
  assert component['outputDefinitions']['artifacts']['report']['artifactType'] == {
      'schemaTitle': 'system.HTML', 'schemaVersion': '0.0.1'}
  for executor in spec['deploymentSpec']['executors'].values():
    assert executor['container']['command'] == ['python', '-m',
                                                'recfusion.pipeline.kfp_executor']
  # What the entrypoint adds: TFX's resolution of a type title reaches HTMLReport.
  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as utils
  from kfp.pipeline_spec import pipeline_spec_pb2
  from recfusion.pipeline import kfp_executor
  from tfx.orchestration.kubeflow.v2 import compiler_utils
  html = pipeline_spec_pb2.ArtifactTypeSchema(schema_title='system.HTML')
  monkeypatch.setattr(compiler_utils, 'TITLE_TO_CLASS_PATH',
                      dict(compiler_utils.TITLE_TO_CLASS_PATH))
  kfp_executor.register_kfp_types()
  assert utils._retrieve_class_path(html) == kfp_executor.HTML_REPORT_CLASS


def test_resource_quantities_are_read_as_kubernetes_reads_them():
  spec = kubeflow_runner.resource_spec({'cpu': '500m', 'memory': '8Gi'})
  assert (spec.cpu_limit, spec.memory_limit) == (0.5, 8.0)
  assert kubeflow_runner.resource_spec({'cpu': 2, 'memory': '8G'}).memory_limit == \
      pytest.approx(8e9 / 2**30)
  with pytest.raises(ConfigError, match=r"kubeflow.trainer_resources.memory: '8GB' is not a "
                                        'Kubernetes quantity'):
    kubeflow_runner.resource_spec({'cpu': 2, 'memory': '8GB'}, 'kubeflow.trainer_resources')


def test_the_pseudonymization_key_reaches_only_the_example_gen_pod_from_its_secret(compiled):
  job, _, _ = compiled
  config = load_config(overrides=[
      'data.dir=gs://shop-bucket/data', 'data.pseudonymize_user_ids=env:SHOP_USER_KEY',
      'kubeflow.user_id_key_secret={name: shop-user-key, key: hmac-key}'])
  env = kubeflow_runner.user_id_key_env(config)
  assert env == 'SHOP_USER_KEY'
  platform = kubeflow_runner.platform_spec(job, {**config.kubeflow, 'user_id_key_env': env})
  executors = platform['platforms']['kubernetes']['deploymentSpec']['executors']
  with_secret = {label for label, c in executors.items() if 'secretAsEnv' in c}
  assert with_secret == {'LogJoinExampleGen_executor'}
  assert executors['LogJoinExampleGen_executor']['secretAsEnv'] == [
      {'secretName': 'shop-user-key',
       'keyToEnv': [{'secretKey': 'hmac-key', 'envVar': 'SHOP_USER_KEY'}]}]


@pytest.mark.parametrize('overrides, message', [
    (['kubeflow.user_id_key_secret={name: s, key: k}'],
     "data.pseudonymize_user_ids must be 'env:NAME', got None"),
    (['data.pseudonymize_user_ids=file:/keys/user', 'kubeflow.user_id_key_secret={name: s, key: k}'],
     "must be 'env:NAME', got 'file:/keys/user'"),
])
def test_a_key_secret_without_its_variable_is_refused(overrides, message):
  config = load_config(overrides=['data.dir=gs://shop-bucket/data', *overrides])
  with pytest.raises(ValueError, match=None) as raised:
    kubeflow_runner.user_id_key_env(config)
  assert message in str(raised.value)


def test_a_compiled_pipeline_wires_the_key_secret_and_its_source(tmp_path):
  config = load_config(overrides=[
      'data.dir=gs://shop-bucket/data', 'data.pseudonymize_user_ids=env:SHOP_USER_KEY',
      'kubeflow.user_id_key_secret={name: shop-user-key, key: hmac-key}'])
  paths = kubeflow_runner.compile_pipeline(config, IMAGE, 'gs://shop-bucket/root', str(tmp_path))
  with open(paths['pipeline']) as f:
    _, platform = list(yaml.safe_load_all(f))
  executors = platform['platforms']['kubernetes']['deploymentSpec']['executors']
  assert executors['LogJoinExampleGen_executor']['secretAsEnv'][0]['keyToEnv'] == [
      {'secretKey': 'hmac-key', 'envVar': 'SHOP_USER_KEY'}]
  with open(paths['job']) as f:
    job = f.read()
  # The task is told where the key is; the key itself is nowhere in the spec.
  assert 'env:SHOP_USER_KEY' in job


def test_a_key_secret_with_another_beam_runner_is_refused():
  config = load_config(overrides=[
      'data.dir=gs://shop-bucket/data', 'data.pseudonymize_user_ids=env:SHOP_USER_KEY',
      'kubeflow.user_id_key_secret={name: s, key: k}',
      'kubeflow.beam_args=["--runner=FlinkRunner"]'])
  with pytest.raises(ValueError, match="only, but kubeflow.beam_args runs Beam on FlinkRunner"):
    kubeflow_runner.user_id_key_env(config)


def test_beam_steps_give_their_workers_the_pipeline_image(compiled):
  # Without a dependency named, TFX would package itself in every Beam pod (42 MB, ~1 s);
  # a remote runner's workers need the image's recfusion code anyway (beam_workers.py).
  job = compiled[0]
  for task in ('LogJoinExampleGen', 'StatisticsGen', 'Transform', 'Evaluator'):
    assert f'--sdk_container_image={IMAGE}' in _executor(job, task)['container']['args'], task


def test_beam_steps_on_the_cluster_pickle_with_the_configured_library(compiled):
  job = compiled[0]
  for task in ('LogJoinExampleGen', 'StatisticsGen', 'Transform', 'Evaluator'):
    assert '--pickle_library=cloudpickle' in _executor(job, task)['container']['args'], task
