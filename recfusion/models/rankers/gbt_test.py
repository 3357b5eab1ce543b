"""Unit tests of the gbt ranker: what it learns, what it reads, and that its SavedModel loads."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from recfusion import keys, ranking_metrics
from recfusion.config import ConfigError, default_dict
from recfusion.models import rankers
from recfusion.models.rankers import gbt

SMALL = gbt.GBTParams(num_trees=40, max_depth=3, shrinkage=0.3, min_examples=5, seed=1)


def _table(requests: int, seed: int):
  """8 candidates per request; the gain follows bm25_title alone, every other input is noise
  or constant."""
  rng = np.random.default_rng(seed)
  rows = requests * 8
  table = {name: rng.random(rows).astype(np.float32) for name in gbt.NUMERIC}
  for name in gbt.CATEGORICAL:
    table[name] = rng.integers(0, 4, rows)
  table['is_search'] = np.ones(rows, np.float32)
  table[keys.REQUEST_ID_KEY] = np.repeat([f'r{i}'.encode() for i in range(requests)], 8)
  table[keys.LABEL_KEY] = np.digitize(table['bm25_title'], [0.5, 0.75, 0.9]).astype(np.float32)
  return table


def test_inputs_are_the_flat_features_and_never_position_or_the_label():
  assert 'bm25_title' in gbt.INPUTS and 'price_z' in gbt.INPUTS
  assert 'category_idx' in gbt.CATEGORICAL and 'item_idx' in gbt.NUMERIC
  assert not {'position', keys.LABEL_KEY, keys.REQUEST_ID_KEY,
              'history_item_idx', 'title_tokens'} & set(gbt.INPUTS)


def test_the_forest_ranks_by_what_decides_the_gain_and_says_so(tmp_path):
  forest = gbt.build_forest(SMALL, str(tmp_path / 'tfdf'))
  forest.fit(gbt._dataset(_table(200, seed=0)), verbose=0)
  held_out = _table(100, seed=1)
  inputs = {name: held_out[name] for name in gbt.INPUTS}
  scores = forest.predict(inputs, verbose=0).reshape(-1)
  ndcg = ranking_metrics.ndcg_at_k(held_out[keys.REQUEST_ID_KEY], held_out[keys.LABEL_KEY],
                                   scores, 10)
  assert ndcg > 0.97
  used = gbt.feature_importance(forest.make_inspector())
  assert max(used, key=used.get) == 'bm25_title' and used['bm25_title'] > 0.9
  assert abs(sum(used.values()) - 1) < 1e-3


def test_hyperparameters_come_whole_from_the_config_and_a_missing_one_names_the_key():
  section = default_dict()['trainers']['gbt']
  assert gbt.GBTParams.from_config(section).num_trees == section['num_trees']
  ranker = rankers.get('gbt')
  ranker.check_hparams(section)
  with pytest.raises(ConfigError, match='trainers.gbt: trainer config lacks num_trees'):
    ranker.check_hparams({k: v for k, v in section.items() if k != 'num_trees'})


def test_trees_do_not_warm_start():
  assert rankers.get('gbt').warm_starts is False
  assert rankers.get('dcn').warm_starts is True


def test_its_saved_model_needs_the_forest_ops_and_saved_models_load_registers_them(tmp_path):
  import tensorflow as tf
  forest = gbt.build_forest(SMALL, str(tmp_path / 'tfdf'))
  forest.fit(gbt._dataset(_table(50, seed=0)), verbose=0)
  inputs = {name: _table(1, seed=2)[name] for name in gbt.INPUTS}
  expected = forest.predict(inputs, verbose=0).reshape(-1)

  class Scorer(tf.Module):

    def __init__(self, model):
      super().__init__()
      self.model = model

    @tf.function(input_signature=[{
        name: tf.TensorSpec([None], tf.float32 if name in gbt.NUMERIC else tf.int64)
        for name in gbt.INPUTS}])
    def score(self, features):
      return tf.reshape(self.model(features), [-1])

  tf.saved_model.save(Scorer(forest), str(tmp_path / 'model'))
  np.save(tmp_path / 'inputs.npy', inputs, allow_pickle=True)
  # A fresh process: this one has the ops registered already.
  script = textwrap.dedent(f'''
      import json, numpy as np, tensorflow as tf
      path = {str(tmp_path / 'model')!r}
      try:
        tf.saved_model.load(path)
        print('loaded without the ops')
      except Exception as error:
        print('plain load failed:', 'SimpleML' in str(error))
      from recfusion.models import saved_models
      inputs = np.load({str(tmp_path / 'inputs.npy')!r}, allow_pickle=True).item()
      model = saved_models.load(path)
      scores = model.score({{k: tf.constant(v) for k, v in inputs.items()}}).numpy().tolist()
      print('scores', json.dumps(scores))
  ''')
  result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=300)
  assert 'plain load failed: True' in result.stdout, result.stdout + result.stderr
  scores = json.loads(result.stdout.split('scores', 1)[1])
  assert np.allclose(scores, expected, atol=1e-5)
  # The forest's C++ logging is silenced: nothing of it reaches the terminal.
  assert 'Engine "GradientBoostedTrees' not in result.stderr
