"""Fixtures shared by the unit, component and end-to-end tests."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest

import recfusion  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

# Event times must be real epoch seconds (the contract refuses dates before 2000).
T0 = 1767225600  # 2026-01-01T00:00:00Z

SMALL_SHOP = dict(seed=3, num_items=120, num_users=60, num_days=4, requests_per_day=60,
                  impressions_per_request=6, no_impression_share=0.1)


@pytest.fixture(scope='session')
def small_shop_dir(tmp_path_factory):
  """A small simulated shop (4 spans, 240 requests) shared read-only by many tests."""
  from recfusion.data import simulator
  out = str(tmp_path_factory.mktemp('shop'))
  simulator.generate(out, simulator.ShopConfig.defaults(**SMALL_SHOP))
  return out


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@pytest.fixture(scope='session')
def gcs_emulator():
  """A Google Cloud Storage emulator (gcp-storage-emulator, in-memory) on localhost, reached by
  every GCS client in this process and its children through STORAGE_EMULATOR_HOST, so gs://
  URIs take the same client path as a real bucket. Yields upload(local_dir, 'gs://b/prefix')."""
  port = _free_port()
  emulator = subprocess.Popen(
      [os.path.join(os.path.dirname(sys.executable), 'gcp-storage-emulator'), 'start',
       '--port', str(port), '--in-memory', '--quiet'],
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  endpoint = f'http://localhost:{port}'
  previous = os.environ.get('STORAGE_EMULATOR_HOST')
  try:
    deadline = time.time() + 30
    while True:
      try:
        urllib.request.urlopen(endpoint + '/storage/v1/b', timeout=1)
        break
      except OSError:
        if emulator.poll() is not None or time.time() > deadline:
          raise RuntimeError(f'the GCS emulator did not start on {endpoint}')
        time.sleep(0.2)
    os.environ['STORAGE_EMULATOR_HOST'] = endpoint
    yield _uploader()
  finally:
    emulator.kill()
    emulator.wait()
    if previous is None:
      os.environ.pop('STORAGE_EMULATOR_HOST', None)
    else:
      os.environ['STORAGE_EMULATOR_HOST'] = previous


def _uploader():
  """upload(local_dir, 'gs://bucket/prefix'): copies a folder into the emulator's bucket."""
  from google.cloud import storage
  client = storage.Client(project='recfusion-test')
  buckets = set()

  def upload(local_dir: str, uri: str) -> str:
    bucket_name, _, prefix = uri[len('gs://'):].partition('/')
    if bucket_name not in buckets:
      client.create_bucket(bucket_name)
      buckets.add(bucket_name)
    bucket = client.bucket(bucket_name)
    for folder, _, files in os.walk(local_dir):
      for name in files:
        path = os.path.join(folder, name)
        key = '/'.join(filter(None, [prefix, os.path.relpath(path, local_dir)]))
        bucket.blob(key).upload_from_filename(path)
    return uri

  return upload


def write_table(path, frame):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if path.endswith('.csv'):
    frame.to_csv(path, index=False)
  else:
    frame.to_parquet(path, index=False)
  return path


@pytest.fixture
def handmade_dir(tmp_path):
  """A tiny hand-written data directory: 3 items, 2 users, 2 spans (parquet)."""
  root = str(tmp_path / 'data')
  write_table(f'{root}/catalog.parquet', pd.DataFrame({
      'item_id': ['a', 'b', 'c'], 'title': ['red shoe', 'blue pan', 'green lamp'],
      'category': ['shoes', 'kitchen', 'home'], 'brand': ['x', 'y', 'z'],
      'price': [10.0, 20.0, 30.0]}))
  write_table(f'{root}/users.parquet', pd.DataFrame({'user_id': ['u1', 'u2'],
                                                     'segment': ['budget', 'premium']}))
  write_table(f'{root}/events/span-1/events.parquet', pd.DataFrame({
      'request_id': ['r1', 'r1', 'r1', 'r2'], 'timestamp': [T0 + 100, T0 + 100, T0 + 105, T0 + 200],
      'user_id': ['u1', 'u1', 'u1', 'u2'], 'query': ['red shoe', 'red shoe', 'red shoe', ''],
      'item_id': ['a', 'b', 'a', 'c'], 'position': [0, 1, 0, None],
      'event': ['impression', 'impression', 'click', 'purchase']}))
  write_table(f'{root}/events/span-2/events.parquet', pd.DataFrame({
      'request_id': ['r3', 'r3'], 'timestamp': [T0 + 300, T0 + 300], 'user_id': ['u1', 'u1'],
      'query': ['', ''], 'item_id': ['b', 'c'], 'position': [0, 1],
      'event': ['impression', 'impression']}))
  return root


@pytest.fixture
def table_writer():
  """write_table(path, frame) as a fixture (test modules cannot import conftest by name)."""
  return write_table


MLMD_SERVICE = 'ml_metadata.MetadataStoreService'


def _serve_mlmd(sqlite_path):
  """A real ML Metadata gRPC service backed by a local SQLite store (see mlmd_grpc_service)."""
  from concurrent import futures

  import grpc
  from ml_metadata.metadata_store import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  from ml_metadata.proto import metadata_store_service_pb2 as service_pb2

  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = sqlite_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  store = metadata_store.MetadataStore(config)
  handlers = {}
  for method in service_pb2.DESCRIPTOR.services_by_name['MetadataStoreService'].methods:
    request_type = getattr(service_pb2, method.input_type.name)
    response_type = getattr(service_pb2, method.output_type.name)

    def handle(request, context, name=method.name, response_type=response_type):
      response = response_type()
      store._call(name, request, response)  # pylint: disable=protected-access
      return response

    handlers[method.name] = grpc.unary_unary_rpc_method_handler(
        handle, request_deserializer=request_type.FromString,
        response_serializer=response_type.SerializeToString)
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
  server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(MLMD_SERVICE, handlers),))
  port = server.add_insecure_port('localhost:0')
  server.start()
  return server, port


@pytest.fixture
def mlmd_grpc_service():
  """serve(sqlite_path) -> port: MLMD's gRPC service (`ml_metadata.MetadataStoreService`, what
  KFP clusters expose) on localhost. Its server binary is not on PyPI; here grpcio serves the
  same service definition and MLMD's own store library answers every RPC from the SQLite file,
  so clients go through the real gRPC client path and get MLMD's answers."""
  servers = []

  def serve(sqlite_path):
    server, port = _serve_mlmd(sqlite_path)
    servers.append(server)
    return port

  yield serve
  for server in servers:
    server.stop(None)


# The Pod Security Standards' "restricted" profile (Kubernetes 1.30+), every control that a pod
# spec can break: https://kubernetes.io/docs/concepts/security/pod-security-standards/
_RESTRICTED_VOLUMES = {'configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral',
                       'persistentVolumeClaim', 'projected', 'secret'}
_SAFE_SYSCTLS = {'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range',
                 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies',
                 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports',
                 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout',
                 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes'}


_SELINUX_TYPES = {'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'}


def _baseline_context_violations(context: dict) -> list:
  """The controls a pod-level and a container-level securityContext share."""
  found = []
  if (context.get('windowsOptions') or {}).get('hostProcess'):
    found.append('windowsOptions.hostProcess')
  apparmor = (context.get('appArmorProfile') or {}).get('type')
  if apparmor not in (None, 'RuntimeDefault', 'Localhost'):
    found.append(f'appArmorProfile {apparmor}')
  selinux = context.get('seLinuxOptions') or {}
  if selinux.get('type') not in (None, '', *_SELINUX_TYPES):
    found.append(f'seLinuxOptions.type {selinux["type"]}')
  if selinux.get('user') or selinux.get('role'):
    found.append('seLinuxOptions.user/role')
  return found


def restricted_violations(pod: dict) -> list:
  """What the PodSecurity admission controller would refuse in `pod` (a PodSpec) under the
  restricted profile, one line per violation; [] when it is admitted."""
  found = []
  pod_context = pod.get('securityContext') or {}
  containers = [('container', c) for c in pod.get('containers', [])] + \
               [('initContainer', c) for c in pod.get('initContainers', [])] + \
               [('ephemeralContainer', c) for c in pod.get('ephemeralContainers', [])]
  for key in ('hostNetwork', 'hostPID', 'hostIPC'):
    if pod.get(key):
      found.append(f'pod: {key}')
  for volume in pod.get('volumes', []):
    kinds = set(volume) - {'name'}
    if not kinds <= _RESTRICTED_VOLUMES:
      found.append(f'volume {volume["name"]}: type {sorted(kinds)}')
  for sysctl in pod_context.get('sysctls', []):
    if sysctl['name'] not in _SAFE_SYSCTLS:
      found.append(f'pod: sysctl {sysctl["name"]}')
  if pod_context.get('runAsUser') == 0:
    found.append('pod: runAsUser 0')
  pod_seccomp = (pod_context.get('seccompProfile') or {}).get('type')
  if pod_seccomp not in (None, 'RuntimeDefault', 'Localhost'):
    found.append(f'pod: seccompProfile {pod_seccomp}')
  found += [f'pod: {problem}' for problem in _baseline_context_violations(pod_context)]
  for kind, container in containers:
    where = f'{kind} {container.get("name")}'
    context = container.get('securityContext') or {}
    found += [f'{where}: {problem}' for problem in _baseline_context_violations(context)]
    if context.get('privileged'):
      found.append(f'{where}: privileged')
    if context.get('allowPrivilegeEscalation') is not False:
      found.append(f'{where}: allowPrivilegeEscalation is not false')
    run_as_non_root = context.get('runAsNonRoot', pod_context.get('runAsNonRoot'))
    if run_as_non_root is not True:
      found.append(f'{where}: runAsNonRoot is not true')
    if context.get('runAsUser') == 0:
      found.append(f'{where}: runAsUser 0')
    seccomp = (context.get('seccompProfile') or {}).get('type', pod_seccomp)
    if seccomp not in ('RuntimeDefault', 'Localhost'):
      found.append(f'{where}: seccompProfile {seccomp}')
    capabilities = context.get('capabilities') or {}
    if 'ALL' not in capabilities.get('drop', []):
      found.append(f'{where}: capabilities do not drop ALL')
    if set(capabilities.get('add', [])) - {'NET_BIND_SERVICE'}:
      found.append(f'{where}: adds capabilities {capabilities["add"]}')
    if context.get('procMount', 'Default') != 'Default':
      found.append(f'{where}: procMount {context["procMount"]}')
    if any(port.get('hostPort') for port in container.get('ports', [])):
      found.append(f'{where}: hostPort')
  return found


@pytest.fixture
def pod_security():
  """restricted_violations(pod_spec) as a fixture."""
  return restricted_violations


@pytest.fixture(scope='session')
def restricted_pipeline_pod_settings(tmp_path_factory):
  """Argo's settings for pipeline pods once kubernetes/components/restricted-pipeline-pods is
  applied to a Kubeflow Pipelines install: rendered with kubectl's kustomize over a stand-in of
  KFP's own workflow-controller-configmap, and parsed as the controller parses them."""
  import yaml
  root = os.path.dirname(os.path.abspath(__file__))
  install = tmp_path_factory.mktemp('kfp-install')
  (install / 'workflow-controller-configmap.yaml').write_text(yaml.safe_dump({
      'apiVersion': 'v1', 'kind': 'ConfigMap',
      'metadata': {'name': 'workflow-controller-configmap', 'namespace': 'kubeflow'},
      'data': {'artifactRepository': 'archiveLogs: true\n',
               'executor': 'imagePullPolicy: Always\n'}}))
  component = os.path.relpath(
      os.path.join(root, 'kubernetes', 'components', 'restricted-pipeline-pods'), install)
  (install / 'kustomization.yaml').write_text(yaml.safe_dump({
      'apiVersion': 'kustomize.config.k8s.io/v1beta1', 'kind': 'Kustomization',
      'resources': ['workflow-controller-configmap.yaml'], 'components': [component]}))
  rendered = subprocess.run(
      [os.path.join(os.path.dirname(sys.executable), 'kubectl'), 'kustomize', str(install)],
      check=True, capture_output=True, text=True).stdout
  (configmap,) = [d for d in yaml.safe_load_all(rendered) if d]
  return {key: yaml.safe_load(value) for key, value in configmap['data'].items()}
