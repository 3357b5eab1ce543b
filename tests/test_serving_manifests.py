"""kubernetes/: TF Serving that scales (HPA, PDB, probes) and is watched (Prometheus metrics,
ServiceMonitor, alerts), rendered with kustomize as a user would add the components.

Core resources validate strictly against the Kubernetes API schemas (kubernetes-validate). The
Prometheus Operator's CRDs have no schema package on PyPI, so ServiceMonitor and PrometheusRule
are checked by structure: a JSON schema of the fields recfusion uses (from the operator's
monitoring.coreos.com/v1 API reference, unknown fields refused), every PromQL expression
parsed (promql-parser), and every reference (service labels, port, path) resolved.
"""
import os
import subprocess
import sys

import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import yaml

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'kubernetes')
KUBECTL = os.path.join(os.path.dirname(sys.executable), 'kubectl')
K8S_VERSION = '1.37.0'
CORE_KINDS = {'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'ConfigMap',
              'Deployment', 'Service'}

_LABELS = {'type': 'object', 'additionalProperties': {'type': 'string'}}
_METADATA = {'type': 'object', 'required': ['name'],
             'properties': {'name': {'type': 'string'}, 'namespace': {'type': 'string'},
                            'labels': _LABELS, 'annotations': _LABELS}}
SERVICE_MONITOR = {
    'type': 'object', 'required': ['apiVersion', 'kind', 'metadata', 'spec'],
    'additionalProperties': False,
    'properties': {
        'apiVersion': {'const': 'monitoring.coreos.com/v1'}, 'kind': {'const': 'ServiceMonitor'},
        'metadata': _METADATA,
        'spec': {'type': 'object', 'required': ['selector', 'endpoints'],
                 'additionalProperties': False, 'properties': {
                     'selector': {'type': 'object', 'additionalProperties': False,
                                  'properties': {'matchLabels': _LABELS}},
                     'endpoints': {'type': 'array', 'minItems': 1, 'items': {
                         'type': 'object', 'additionalProperties': False, 'required': ['port'],
                         'properties': {'port': {'type': 'string'},
                                        'path': {'type': 'string', 'pattern': '^/'},
                                        'interval': {'type': 'string',
                                                     'pattern': '^[0-9]+(ms|s|m|h)$'}}}}}}}}
PROMETHEUS_RULE = {
    'type': 'object', 'required': ['apiVersion', 'kind', 'metadata', 'spec'],
    'additionalProperties': False,
    'properties': {
        'apiVersion': {'const': 'monitoring.coreos.com/v1'}, 'kind': {'const': 'PrometheusRule'},
        'metadata': _METADATA,
        'spec': {'type': 'object', 'required': ['groups'], 'additionalProperties': False,
                 'properties': {'groups': {'type': 'array', 'items': {
                     'type': 'object', 'required': ['name', 'rules'],
                     'additionalProperties': False,
                     'properties': {'name': {'type': 'string'}, 'rules': {
                         'type': 'array', 'minItems': 1, 'items': {
                             'type': 'object', 'required': ['alert', 'expr'],
                             'additionalProperties': False,
                             'properties': {
                                 'alert': {'type': 'string', 'pattern': '^[A-Za-z][A-Za-z0-9]*$'},
                                 'expr': {'type': 'string'},
                                 'for': {'type': 'string', 'pattern': '^[0-9]+(s|m|h|d)$'},
                                 'labels': _LABELS,
                                 'annotations': {
                                     'type': 'object', 'required': ['summary', 'description'],
                                     'additionalProperties': {'type': 'string'}}}}}}}}}}}}


def render(tmp_path, components=()):
  """The base with `components`, as an overlay of the user's would render it."""
  folder = tmp_path / 'overlay'
  folder.mkdir()
  (folder / 'kustomization.yaml').write_text(yaml.safe_dump({
      'apiVersion': 'kustomize.config.k8s.io/v1beta1', 'kind': 'Kustomization',
      # kustomize takes relative paths only.
      'resources': [os.path.relpath(os.path.join(ROOT, 'base'), folder)],
      'components': [os.path.relpath(os.path.join(ROOT, 'components', c), folder)
                     for c in components]}))
  output = subprocess.run([KUBECTL, 'kustomize', '--load-restrictor=LoadRestrictionsNone',
                           str(folder)], check=True, capture_output=True, text=True).stdout
  return [doc for doc in yaml.safe_load_all(output) if doc]


def _one(docs, kind, name='recfusion-serving'):
  return next(d for d in docs if d['kind'] == kind and d['metadata']['name'] == name)


@pytest.fixture(scope='module')
def monitored(tmp_path_factory):
  return render(tmp_path_factory.mktemp('monitored'), ['prometheus-monitoring'])


def test_the_autoscaler_owns_the_serving_replicas(tmp_path):
  docs = render(tmp_path)
  deployment, hpa = _one(docs, 'Deployment'), _one(docs, 'HorizontalPodAutoscaler')
  assert 'replicas' not in deployment['spec']
  assert hpa['spec']['scaleTargetRef'] == {'apiVersion': 'apps/v1', 'kind': 'Deployment',
                                           'name': deployment['metadata']['name']}
  assert 2 <= hpa['spec']['minReplicas'] < hpa['spec']['maxReplicas']
  cpu = hpa['spec']['metrics'][0]['resource']
  assert cpu['name'] == 'cpu' and cpu['target'] == {'type': 'Utilization',
                                                     'averageUtilization': 70}
  # Utilization is a share of the request: without a CPU request the HPA cannot scale.
  assert deployment['spec']['template']['spec']['containers'][0]['resources']['requests']['cpu']
  for doc in docs:
    if doc['kind'] in CORE_KINDS:
      kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_disruption_never_takes_the_last_replica(tmp_path):
  docs = render(tmp_path)
  pdb, hpa = _one(docs, 'PodDisruptionBudget'), _one(docs, 'HorizontalPodAutoscaler')
  pod_labels = _one(docs, 'Deployment')['spec']['template']['metadata']['labels']
  assert pdb['spec']['selector']['matchLabels'].items() <= pod_labels.items()
  assert 1 <= pdb['spec']['minAvailable'] < hpa['spec']['minReplicas']


def test_probes_ask_the_model_status_endpoint(tmp_path):
  container = _one(render(tmp_path), 'Deployment')['spec']['template']['spec']['containers'][0]
  ports = {p['name'] for p in container['ports']}
  model = next(a.split('=', 1)[1] for a in container['args'] if a.startswith('--model_name='))
  for probe in ('startupProbe', 'readinessProbe', 'livenessProbe'):
    assert container[probe]['httpGet'] == {'path': f'/v1/models/{model}', 'port': 'http'}
    assert container[probe]['httpGet']['port'] in ports
  startup = container['startupProbe']
  assert startup['periodSeconds'] * startup['failureThreshold'] >= 300  # time to load a model


def test_tf_serving_thread_pools_fit_the_container(tmp_path):
  container = _one(render(tmp_path), 'Deployment')['spec']['template']['spec']['containers'][0]
  args = dict(a.split('=', 1) for a in container['args'] if '=' in a)
  # TF Serving sizes its pools from the node's cores unless told: on a large node a 2-CPU
  # pod would run dozens of threads into its quota.
  from kubernetes.utils import parse_quantity
  assert int(args['--tensorflow_inter_op_parallelism']) == parse_quantity(
      container['resources']['limits']['cpu'])
  assert args['--tensorflow_intra_op_parallelism'] == '1'


def test_tf_serving_serves_prometheus_metrics_where_the_service_monitor_scrapes(monitored):
  deployment, service = _one(monitored, 'Deployment'), _one(monitored, 'Service')
  pod = deployment['spec']['template']['spec']
  container = pod['containers'][0]
  config_file = next(a.split('=', 1)[1] for a in container['args']
                     if a.startswith('--monitoring_config_file='))
  mount = next(m for m in container['volumeMounts']
               if config_file.startswith(m['mountPath'] + '/'))
  volume = next(v for v in pod['volumes'] if v['name'] == mount['name'])
  config = _one(monitored, 'ConfigMap', volume['configMap']['name'])
  text = config['data'][os.path.basename(config_file)]
  assert 'enable: true' in text
  monitor = _one(monitored, 'ServiceMonitor')
  jsonschema.validate(monitor, SERVICE_MONITOR)
  endpoint = monitor['spec']['endpoints'][0]
  assert f'path: "{endpoint["path"]}"' in text
  assert monitor['spec']['selector']['matchLabels'].items() <= service['metadata'][
      'labels'].items()
  assert endpoint['port'] in {p['name'] for p in service['spec']['ports']}
  assert monitor['metadata']['namespace'] == service['metadata']['namespace'] == 'recfusion'
  # The label the component's notes tell Prometheus to select by.
  for kind in ('ServiceMonitor', 'PrometheusRule'):
    assert _one(monitored, kind)['metadata']['labels'] == {'app.kubernetes.io/part-of': 'recfusion'}


def test_prometheus_may_scrape_through_the_default_deny(monitored):
  policy = _one(monitored, 'NetworkPolicy', 'serving-from-prometheus')
  kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
  pod_labels = _one(monitored, 'Deployment')['spec']['template']['metadata']['labels']
  assert policy['spec']['podSelector']['matchLabels'].items() <= pod_labels.items()
  assert policy['spec']['ingress'][0]['ports'] == [{'protocol': 'TCP', 'port': 8501}]


def test_alerts_cover_errors_latency_staleness_and_no_model(monitored):
  rule = _one(monitored, 'PrometheusRule')
  jsonschema.validate(rule, PROMETHEUS_RULE)
  alerts = {r['alert']: r for g in rule['spec']['groups'] for r in g['rules']}
  assert set(alerts) == {'RecfusionServingErrorRate', 'RecfusionServingLatencyP99',
                         'RecfusionServingNoModelLoaded', 'RecfusionModelNotUpdated'}
  for name, alert in alerts.items():
    promql_parser.parse(alert['expr'])  # raises on a malformed expression
    assert alert['labels']['severity'] in ('page', 'ticket'), name
    # Every alert reads this service's series, not any TF Serving in the cluster.
    assert 'job="recfusion-serving"' in alert['expr'], name
  assert 'status!="OK"' in alerts['RecfusionServingErrorRate']['expr']
  assert 'histogram_quantile(0.99' in alerts['RecfusionServingLatencyP99']['expr']
  assert alerts['RecfusionServingNoModelLoaded']['expr'].strip().startswith('absent(')


def test_the_structure_checks_refuse_what_prometheus_would(monitored):
  rule = _one(monitored, 'PrometheusRule')
  typo = yaml.safe_load(yaml.safe_dump(rule))
  typo['spec']['groups'][0]['rules'][0]['expresion'] = typo['spec']['groups'][0]['rules'][0].pop(
      'expr')
  with pytest.raises(jsonschema.ValidationError):
    jsonschema.validate(typo, PROMETHEUS_RULE)
  with pytest.raises(ValueError):
    promql_parser.parse('sum(rate(:tensorflow:serving:request_count[5m])')
  monitor = yaml.safe_load(yaml.safe_dump(_one(monitored, 'ServiceMonitor')))
  monitor['spec']['endpoints'][0]['interval'] = 'often'
  with pytest.raises(jsonschema.ValidationError):
    jsonschema.validate(monitor, SERVICE_MONITOR)


def test_request_rate_autoscaling_adds_a_pods_metric(tmp_path):
  hpa = _one(render(tmp_path, ['request-rate-autoscaling']), 'HorizontalPodAutoscaler')
  kubernetes_validate.validate(hpa, K8S_VERSION, strict=True)
  assert [m['type'] for m in hpa['spec']['metrics']] == ['Resource', 'Pods']
  assert hpa['spec']['metrics'][1]['pods']['metric'] == {
      'name': 'recfusion_serving_requests_per_second'}
