"""The floor under a DAG run: the same work done bare in one Python process, no TFX, Beam or TFMA.

Given what one measured DAG run wrote (tools/bench/perf_dag.py's JSON), each step below redoes
a component's work with recfusion's own functions and nothing around them:
  LogJoinExampleGen  the same contract reads and join functions in plain loops, the examples
                     written as gzipped TFRecords;
  Transform          the fitted transform graph applied to the raw examples of the splits the
                     DAG transforms, `train` and `validation` (the analyzers' pass is not
                     redone: the floor is the apply step only);
  Trainer.<name>     each ranker's own run_fn on the transformed examples;
  Fusion             validation scored by every ranker, the fusion fit, the fused model saved;
  Evaluator          every eval example scored by the fused model through its serving
                     signature, NDCG@10 with numpy.
Components without a bare equivalent (statistics, schema, validation, lookup, push, report)
have no floor; the bench says so rather than count them as free.
Run by tools/bench/perf.py in a process of its own (`python -m tools.bench.perf_floor`).
"""
import argparse
import collections
import json
import os
import tempfile
import time
import types
from typing import Callable, Dict, List

from recfusion import keys

BATCH = 4096


def _timed(step: Callable[[], Dict]) -> Dict:
  started = time.monotonic()
  detail = step() or {}
  return {'seconds': round(time.monotonic() - started, 2), **detail}


def join_floor(config, data_dir: str, out_dir: str) -> Dict:
  """LogJoinExampleGen's work without Beam (time-fraction splits, the default)."""
  import tensorflow as tf
  from recfusion.data import contract, join
  layout = contract.discover(data_dir)
  selected = contract.select_window(layout, config.data.window_spans)
  catalog_frame = contract.load_catalog(layout.catalog_file)
  users = contract.load_users(layout.users_file)
  catalog = {row.item_id: join.CatalogItem(row.title, row.category, row.brand, float(row.price))
             for row in catalog_frame.itertuples()}
  catalog_ids = sorted(catalog)
  segments = dict(zip(users['user_id'], users['segment']))
  by_request: Dict[str, List] = collections.defaultdict(list)
  for span in selected:
    for path in span.files:
      frame = contract.read_events(path, frozenset(catalog), config.data.on_unknown_item,
                                   config.data.earliest_timestamp).events
      for request_id, ts, user, query, item, position, gain, event in zip(
          frame['request_id'], frame['timestamp'], frame['user_id'], frame['query'],
          frame['item_id'], frame['position'], frame['gain'], frame['event']):
        by_request[request_id].append((int(ts), user, query, item, int(position), float(gain),
                                       event, span.number))
  requests = [join.summarize_request(r, events) for r, events in by_request.items()]
  rule = join.SplitRule(boundaries=join.time_boundaries(
      min(r.timestamp for r in requests), max(r.timestamp for r in requests),
      config.data.split.fractions))
  by_user: Dict[str, List] = collections.defaultdict(list)
  for request in requests:
    by_user[request.history_key].append(request)
  writers = {split: tf.io.TFRecordWriter(os.path.join(out_dir, f'{split}.gz'), 'GZIP')
             for split in keys.SPLITS}
  examples = dict.fromkeys(keys.SPLITS, 0)
  for user_requests in by_user.values():
    for request, history in join.attach_histories(user_requests, config.data.history_max):
      split = rule.split_of(request)
      if split is None:
        continue
      negatives = ([] if request.has_impressions else join.sample_negatives(
          request, catalog_ids, config.data.negatives_per_request, config.data.seed))
      for example in join.build_examples(request, history, catalog, segments, negatives):
        writers[split].write(example.SerializeToString())
        examples[split] += 1
  for writer in writers.values():
    writer.close()
  return {'examples': examples}


def _gz_files(split_uri: str) -> List[str]:
  import tensorflow as tf
  return sorted(tf.io.gfile.glob(os.path.join(split_uri, '*.gz')))


def transform_floor(transform_graph: str, raw_examples: str) -> Dict:
  import tensorflow as tf
  import tensorflow_transform as tft
  tft_output = tft.TFTransformOutput(transform_graph)
  layer = tft_output.transform_features_layer()
  spec = tft_output.raw_feature_spec()
  examples = 0
  for split in keys.TRANSFORMED_SPLITS:
    files = _gz_files(os.path.join(raw_examples, f'Split-{split}'))
    for batch in tf.data.TFRecordDataset(files, compression_type='GZIP').batch(BATCH):
      layer(tf.io.parse_example(batch, spec))
      examples += int(batch.shape[0])
  return {'examples': examples}


def trainer_floor(name: str, custom_config: Dict, transformed: str, transform_graph: str,
                  out_dir: str) -> Dict:
  from recfusion.models import trainer_run
  fn_args = types.SimpleNamespace(
      custom_config=custom_config, transform_graph_path=transform_graph, base_model=None,
      train_files=[os.path.join(transformed, f'Split-{keys.TRAIN_SPLIT}', '*.gz')],
      eval_files=[os.path.join(transformed, f'Split-{keys.FUSION_SPLIT}', '*.gz')],
      serving_model_dir=os.path.join(out_dir, name, 'serving'),
      model_run_dir=os.path.join(out_dir, name, 'logs'))
  trainer_run.run_fn(fn_args)
  return {'serving_dir': fn_args.serving_model_dir}


def fusion_floor(config, ranker_dirs: Dict[str, str], transformed: str, transform_graph: str,
                 out_dir: str) -> Dict:
  import tensorflow_transform as tft
  from recfusion.components.fusion import executor as fusion_executor
  from recfusion.models import training
  from recfusion.models.fusion import fitting, fused_model
  from recfusion.models.fusion.scoring import score_split
  tft_output = tft.TFTransformOutput(transform_graph)
  dropped = sorted(n for n, d in ranker_dirs.items()
                   if not training.read_ranker_info(d).get('trained', True))
  trained = {n: d for n, d in ranker_dirs.items() if n not in dropped}
  validation = score_split(os.path.join(transformed, f'Split-{keys.FUSION_SPLIT}'), tft_output,
                           trained)
  fitted = fitting.fit(validation, sorted(trained), config.fusion.method,
                       config.fusion.grid_step)
  path = os.path.join(out_dir, 'fused')
  fused_model.save(fusion_executor.fused_ranker(tft_output, trained, fitted, dropped), path)
  return {'model': path, 'method': fitted.report['method']}


def evaluator_floor(model_path: str, raw_examples: str) -> Dict:
  import numpy as np
  import tensorflow as tf
  from recfusion.models import saved_models
  from recfusion.ranking_metrics import ndcg_at_k
  serve = saved_models.load(model_path).signatures[keys.SERVING_SIGNATURE]
  spec = {keys.REQUEST_ID_KEY: tf.io.FixedLenFeature([], tf.string),
          keys.LABEL_KEY: tf.io.FixedLenFeature([], tf.float32)}
  request_ids, gains, scores = [], [], []
  files = _gz_files(os.path.join(raw_examples, f'Split-{keys.EVAL_SPLIT}'))
  for batch in tf.data.TFRecordDataset(files, compression_type='GZIP').batch(BATCH):
    parsed = tf.io.parse_example(batch, spec)
    request_ids.append(parsed[keys.REQUEST_ID_KEY].numpy())
    gains.append(parsed[keys.LABEL_KEY].numpy())
    scores.append(np.asarray(serve(examples=batch)[keys.SCORE_KEY]).reshape(-1))
  ndcg10 = ndcg_at_k(np.concatenate(request_ids), np.concatenate(gains),
                     np.concatenate(scores), 10)
  return {'examples': int(sum(len(s) for s in scores)), 'ndcg10': round(float(ndcg10), 5)}


def measure(dag: Dict, overrides: List[str]) -> Dict:
  """Seconds per component of the bare work, for the DAG run `dag` describes."""
  from recfusion.config import load_config
  from recfusion.models import rankers, saved_models
  saved_models.register_ops()
  config = load_config(overrides=overrides)
  outputs = dag['outputs']
  raw = outputs['LogJoinExampleGen']['examples'][0]
  transform_graph = outputs['Transform']['transform_graph'][0]
  transformed = outputs['Transform']['transformed_examples'][0]
  floor: Dict[str, Dict] = {}
  with tempfile.TemporaryDirectory() as scratch:
    os.makedirs(os.path.join(scratch, 'join'))
    floor['LogJoinExampleGen'] = _timed(
        lambda: join_floor(config, dag['data_dir'], os.path.join(scratch, 'join')))
    floor['Transform'] = _timed(lambda: transform_floor(transform_graph, raw))
    ranker_dirs = {}
    # In the DAG's order (Trainer.<name> ids sort by name): the first Keras model a process
    # builds pays TensorFlow's one-time warm-up, in the floor as in the DAG.
    for name in sorted(config.trainers):
      ranker = rankers.get(name)
      custom = ranker.custom_config(dict(config.trainers[name]))
      result = _timed(lambda: trainer_floor(name, custom, transformed, transform_graph,
                                            scratch))
      ranker_dirs[name] = result.pop('serving_dir')
      floor[f'Trainer.{name}'] = result
    fused = _timed(lambda: fusion_floor(config, ranker_dirs, transformed, transform_graph,
                                        scratch))
    model = fused.pop('model')
    floor['Fusion'] = fused
    floor['Evaluator'] = _timed(lambda: evaluator_floor(model, raw))
  return floor


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--dag', required=True, help="perf_dag's JSON of the run to redo")
  parser.add_argument('--set', dest='overrides', action='append', default=[])
  parser.add_argument('--out', required=True)
  args = parser.parse_args(argv)
  with open(args.dag) as f:
    dag = json.load(f)
  with open(args.out, 'w') as f:
    json.dump(measure(dag, args.overrides), f, indent=2)


if __name__ == '__main__':
  main()
