"""Unit tests of what the rankers' training shares: reading Transform output, ranker info."""
import os

import tensorflow as tf

from recfusion import keys
from recfusion.models import training


class _TransformOutput:
  """The one method of TFTransformOutput that transformed_dataset reads."""

  def transformed_feature_spec(self):
    return {'history_item_idx': tf.io.FixedLenFeature([3], tf.int64),
            'price_z': tf.io.FixedLenFeature([], tf.float32),
            keys.LABEL_KEY: tf.io.FixedLenFeature([], tf.float32),
            keys.REQUEST_ID_KEY: tf.io.FixedLenFeature([], tf.string)}


def _write(folder, rows):
  os.makedirs(folder)
  with tf.io.TFRecordWriter(os.path.join(folder, 'part.gz'), options='GZIP') as writer:
    for history, price in rows:
      feature = {
          'history_item_idx': tf.train.Feature(int64_list=tf.train.Int64List(value=history)),
          'price_z': tf.train.Feature(float_list=tf.train.FloatList(value=[price])),
          keys.LABEL_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=[0.0])),
          keys.REQUEST_ID_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b'r'])),
      }
      writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                   .SerializeToString())
  return folder


def test_varying_features_finds_the_constant_ones(tmp_path):
  # No user has a history (all padding), prices differ.
  folder = _write(str(tmp_path / 'train'), [([0, 0, 0], 1.0), ([0, 0, 0], -0.5)])
  varying = training.varying_features([folder], _TransformOutput(),
                                      ['history_item_idx', 'price_z'])
  assert varying == ['price_z']


def test_ranker_info_round_trip_and_default(tmp_path):
  serving = str(tmp_path / 'Format-Serving')
  assert training.read_ranker_info(serving) == {'trained': True}
  training.write_ranker_info(serving, {'trained': False, 'reason': 'nothing to learn'})
  assert training.read_ranker_info(serving) == {'trained': False, 'reason': 'nothing to learn'}
  assert os.path.exists(os.path.join(serving, 'assets.extra', 'recfusion_ranker.json'))


def test_datasets_for_keras_fit_are_not_autotuned(tmp_path):
  # An autotuned iterator that the garbage collector frees waits out its model thread's
  # sleep (up to a minute): the datasets Keras iterates must not start that thread.
  folder = _write(str(tmp_path / 'train'), [([1, 2, 3], 1.0), ([0, 0, 0], -0.5)])
  dataset = training.transformed_dataset([folder], _TransformOutput(), batch_size=2,
                                         shuffle=True)
  assert dataset.options().autotune.enabled is False
  features, label = next(iter(dataset))
  assert features['price_z'].numpy().tolist() == [1.0, -0.5]  # one batch: nothing to shuffle
  assert label.shape == (2, 2)
