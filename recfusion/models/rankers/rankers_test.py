"""Unit tests of the three rankers' architectures on a tiny random batch."""
import numpy as np
import pytest
import tf_keras as keras

from recfusion import features
from recfusion.config import default_dict
from recfusion.models import rankers, training
from recfusion.models.rankers import dcn, sequence, text

VOCAB = training.Vocabularies({'tokens': 28, 'item_id': 38, 'category': 8, 'brand': 6,
                               'user_segment': 3})
HP = training.HParams.from_config({**default_dict()['trainers']['dcn'], 'embedding_dim': 8,
                                    'hidden_units': 8})
# name -> (list length or None, ids to draw from), from the feature catalogue.
INT_FEATURES = {f.name: (f.length if f.kind == 'ids' else None, VOCAB.size(f.vocabulary))
                for f in features.CATALOGUE if f.kind in ('id', 'ids')}
FLOAT_FEATURES = features.names(kind='numeric')


def _inputs():
  inputs = {name: keras.Input(shape=(length,) if length else (), dtype='int64', name=name)
            for name, (length, _) in INT_FEATURES.items()}
  inputs.update({name: keras.Input(shape=(), dtype='float32', name=name)
                 for name in FLOAT_FEATURES})
  return inputs


def _batch(model, size=5):
  rng = np.random.default_rng(0)
  batch = {}
  for name in model.input_names:
    if name in INT_FEATURES:
      length, vocabulary = INT_FEATURES[name]
      batch[name] = rng.integers(0, vocabulary, size=(size, length) if length else (size,))
    else:
      batch[name] = rng.random(size).astype('float32')
  return batch


@pytest.mark.parametrize('module', [text, dcn, sequence])
def test_model_scores_each_example_and_never_sees_position(module):
  model = module.build_model(_inputs(), VOCAB, HP)
  assert 'position' not in model.input_names
  scores = model(_batch(model)).numpy()
  assert scores.shape == (5, 1) and np.isfinite(scores).all()


def test_sequence_model_ignores_history_padding():
  model = sequence.build_model(_inputs(), VOCAB, HP)
  batch = _batch(model, size=1)
  batch['history_item_idx'][:, 3:] = 0
  batch['history_category_idx'][:, 3:] = 0
  before = model(batch).numpy()
  # Padding is marked by item id 0; whatever else sits in those slots must not matter.
  batch['history_category_idx'][:, 3:] = 5
  batch['history_brand_idx'][:, 3:] = 5
  assert np.allclose(model(batch).numpy(), before)


def test_hparams_come_whole_from_the_config():
  config = {**default_dict()['trainers']['text'], 'ranker': 'text'}
  assert training.HParams.from_config(config).epochs == config['epochs']
  del config['dropout']
  with pytest.raises(ValueError, match='trainer config lacks dropout'):
    training.HParams.from_config(config)


@pytest.mark.parametrize('module', [text, dcn, sequence])
def test_every_embedding_table_is_known_to_warm_start(module):
  # An embedding warm start does not know would only be reused when vocabularies are equal.
  from recfusion.models import warm_start
  model = module.build_model(_inputs(), VOCAB, HP)
  tables = {layer.name for layer in model.layers if isinstance(layer, keras.layers.Embedding)}
  assert tables and {t for t in tables if warm_start.embedding_vocabulary(t) is None} <= {
      'position_embedding'}


def test_the_builtin_rankers_are_registered():
  assert set(rankers.names()) >= {'text', 'dcn', 'sequence', 'gbt'}
  assert rankers.get('dcn').build_model is dcn.build_model


def test_an_unknown_ranker_is_a_config_error_that_lists_the_registered_ones():
  from recfusion.config import ConfigError
  with pytest.raises(ConfigError, match=r"no ranker named 'nope'.*dcn, gbt, sequence, text"):
    rankers.get('nope')


def test_rankers_say_what_they_need_to_learn_anything():
  assert rankers.get('sequence').needs == ('history_item_idx',)
  assert 'history_item_idx' in rankers.get('text').needs
  assert rankers.get('dcn').needs == ()  # tabular features always carry something


def test_the_registry_survives_the_reload_tfx_does_before_each_trainer_run():
  # TFX's import_func_from_module reloads the module of a run_fn; whichever module that is,
  # the rankers must still be found afterwards.
  import importlib
  from recfusion.models import trainer_run
  importlib.reload(trainer_run)
  reloaded = importlib.reload(rankers)
  assert reloaded.get('dcn').build_model is dcn.build_model
  assert set(reloaded.names()) >= {'text', 'dcn', 'sequence'}
