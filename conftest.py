"""Fixtures shared by the unit, component and end-to-end tests."""
import os

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


def copy_to_bucket(local_dir: str, uri: str) -> str:
  """A copy of a local data folder in TensorFlow's in-memory file system (`ram://`), which is
  reached through the same file-system layer as gs:// and s3:// buckets: a stand-in bucket
  that needs no server."""
  import tensorflow as tf
  for folder, _, files in os.walk(local_dir):
    target = uri + folder[len(local_dir):]
    tf.io.gfile.makedirs(target)
    for name in files:
      tf.io.gfile.copy(os.path.join(folder, name), f'{target}/{name}', overwrite=True)
  return uri


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
