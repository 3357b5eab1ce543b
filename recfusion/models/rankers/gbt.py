"""gbt ranker: gradient-boosted trees with a LambdaMART NDCG loss (TensorFlow Decision Forests)
over the flat tabular and match features.

The deep rankers learn smooth functions of embeddings; trees learn thresholds and interactions
of the match features as they are (BM25 per field, overlaps, history shares, price gaps) and so
make different mistakes, which is what score-level fusion needs from its members and what the
strongest learning-to-rank ensembles combine with neural models. Trees cannot continue from
the production model: every run trains from scratch.

Its SavedModel calls TF-DF's inference ops: TF Serving (>= 2.11) has them built in, and
recfusion registers them before it loads any model (models/saved_models.py).
"""
import dataclasses
import shutil
import tempfile
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np

from recfusion import features, keys
from recfusion.models import rankers

# Item ids follow Transform's vocabulary, ordered by train frequency: as a number, a
# popularity rank (the benchmark's LightGBM reads it the same way).
NUMERIC: Tuple[str, ...] = features.names('tabular', kind='numeric') + ('item_idx',)
CATEGORICAL: Tuple[str, ...] = tuple(
    name for name in features.names('tabular', kind='id') if name != 'item_idx')
INPUTS: Tuple[str, ...] = NUMERIC + CATEGORICAL


@dataclasses.dataclass(frozen=True)
class GBTParams:
  """`trainers.gbt` of the run config (defaults.yaml holds the defaults)."""
  num_trees: int  # at most; early stopping on `validation` picks how many
  max_depth: int
  shrinkage: float
  min_examples: int  # per leaf
  seed: int

  @classmethod
  def from_config(cls, config: Mapping[str, Any]) -> 'GBTParams':
    from recfusion.models import training
    return training.hparams_from_config(cls, config)


def read_table(file_patterns: List[str], tft_output, seed: int) -> Dict[str, np.ndarray]:
  """The model's inputs, request ids and gains of one split, rows in random order.

  The files list a request's candidates in logged-position order; a forest whose first trees
  tie many scores would otherwise have its early stopping judged on the logged order.
  """
  from recfusion.models import training
  columns: Dict[str, List[np.ndarray]] = {name: [] for name in INPUTS + (keys.REQUEST_ID_KEY,)}
  gains = []
  for batch, label in training.transformed_dataset(file_patterns, tft_output, 8192,
                                                   keep=list(columns)):
    for name in columns:
      columns[name].append(batch[name].numpy().reshape(-1))
    gains.append(label.numpy()[:, 0])
  table = {name: np.concatenate(parts) for name, parts in columns.items()}
  table[keys.LABEL_KEY] = np.concatenate(gains).astype(np.float32)
  order = np.random.default_rng(seed).permutation(len(table[keys.LABEL_KEY]))
  return {name: values[order] for name, values in table.items()}


def _dataset(table: Mapping[str, np.ndarray]):
  import tensorflow as tf
  from recfusion.models import training
  inputs = {name: table[name] for name in INPUTS + (keys.REQUEST_ID_KEY,)}
  return training.without_autotuning(
      tf.data.Dataset.from_tensor_slices((inputs, table[keys.LABEL_KEY])).batch(8192))


def build_forest(hp: GBTParams, temp_directory: str):
  import tensorflow_decision_forests as tfdf
  from recfusion.models import saved_models
  saved_models.register_ops()  # and quiets its C++ logging
  usage = ([tfdf.keras.FeatureUsage(name, tfdf.keras.FeatureSemantic.NUMERICAL)
            for name in NUMERIC] +
           [tfdf.keras.FeatureUsage(name, tfdf.keras.FeatureSemantic.CATEGORICAL)
            for name in CATEGORICAL])
  return tfdf.keras.GradientBoostedTreesModel(
      task=tfdf.keras.Task.RANKING, ranking_group=keys.REQUEST_ID_KEY, features=usage,
      exclude_non_specified_features=True, num_trees=hp.num_trees, max_depth=hp.max_depth,
      shrinkage=hp.shrinkage, min_examples=hp.min_examples, random_seed=hp.seed,
      # A fresh forest every time, never one resumed from files left in temp_directory.
      temp_directory=temp_directory, try_resume_training=False, verbose=0, name='gbt_ranker')


def feature_importance(inspector) -> Dict[str, float]:
  """Share of the trees' root splits on each input (from the forest's inspector): what the
  forest actually uses."""
  importances = inspector.variable_importances().get('NUM_AS_ROOT', [])
  total = sum(value for _, value in importances) or 1.0
  return {feature.name: round(value / total, 4) for feature, value in importances}


def train_and_export(fn_args, ranker: str) -> None:
  import tensorflow as tf
  import tensorflow_transform as tft
  from absl import logging
  from recfusion.models import training, warm_start

  hp = GBTParams.from_config(fn_args.custom_config)
  logging.info('%s: %s', ranker, hp)
  tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  train = read_table(fn_args.train_files, tft_output, hp.seed)
  warm_start.record({'warm_started': False, 'reason': 'trees are trained from scratch'},
                    fn_args.model_run_dir)
  # TF-DF's working files go to local disk: on a cluster model_run_dir is a bucket URI, which
  # the forest's C++ file layer need not read.
  temp_directory = tempfile.mkdtemp(prefix='recfusion-gbt-')
  try:
    forest = build_forest(hp, temp_directory)
    # Trees stop on a tenth of `train`'s requests (TF-DF's own hold-out), never on
    # `validation`: choosing among hundreds of forest sizes there would flatter this member on
    # the split Fusion judges members by (measured: Fusion then picked it alone and lost 0.004
    # NDCG@10 on eval).
    forest.fit(_dataset(train), verbose=0)
    inspector = forest.make_inspector()  # reads temp_directory
    used, trees = feature_importance(inspector), inspector.num_trees()
    logging.info('%s: %d trees; root splits by feature %s', ranker, trees, used)
    spec = tft_output.transformed_feature_spec()
    training.export(forest, tft_output, fn_args.serving_model_dir, input_specs={
        name: tf.TensorSpec([None], spec[name].dtype, name=name) for name in INPUTS})
  finally:
    shutil.rmtree(temp_directory, ignore_errors=True)
  # From the table already in memory, not a second pass over the files.
  constant = [name for name in INPUTS if train[name].min() == train[name].max()]
  training.write_ranker_info(fn_args.serving_model_dir, {
      'trained': True, 'trees': trees, 'root_splits': used,
      **training.inputs_info(INPUTS, constant)})


RANKER = rankers.Ranker('gbt', build_model=None, module=__name__, train=train_and_export,
                        parse_hparams=GBTParams.from_config, warm_starts=False, uses_gpu=False)
