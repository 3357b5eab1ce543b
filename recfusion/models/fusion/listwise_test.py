"""Unit tests of the ListNet fit shared by the gated and stacking fusions."""
import numpy as np
import tensorflow as tf

from recfusion.models.fusion import listwise


def _linear(params, data):
  return tf.matmul(data['x'], params['w'])[:, 0]


def test_listnet_loss_is_the_cross_entropy_of_gain_shares_and_score_softmax():
  scores = tf.constant([0.0, np.log(3.0), 5.0, 1.0])
  gains = tf.constant([1.0, 1.0, 0.0, 0.0])  # the second request has no gain: left out
  loss = listwise.listnet_loss(scores, gains, tf.constant([0, 0, 1, 1]), 2)
  # Softmax of [0, log 3] is [1/4, 3/4]; target [1/2, 1/2].
  expected = -(0.5 * np.log(0.25) + 0.5 * np.log(0.75))
  assert abs(float(loss) - expected) < 1e-6


def test_a_fit_moves_the_weight_toward_what_ranks_gains_first_and_leaves_the_start_alone():
  x = np.array([[1.0], [0.0], [1.0], [0.0]], np.float32)
  start = {'w': np.zeros((1, 1), np.float32)}
  fitted, losses = listwise.fit(_linear, start, {'x': x}, np.array([1.0, 0.0, 2.0, 0.0]),
                                np.array([b'a', b'a', b'b', b'b']), steps=50)
  assert fitted['w'][0, 0] > 0.5
  assert losses[-1] < losses[0] and len(losses) == 50
  assert start['w'][0, 0] == 0.0


def test_fits_of_one_score_function_share_one_graph_whatever_the_rows():
  def fit(rows, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2)).astype(np.float32)
    return listwise.fit(_linear, {'w': np.zeros((2, 1), np.float32)}, {'x': x},
                        rng.integers(0, 3, rows).astype(float),
                        np.repeat(np.arange(rows // 4), 4), steps=20)
  first, _ = fit(40, 0)
  fit(64, 1)
  again, _ = fit(40, 0)
  fitter = listwise._fitter(_linear, (('w', (2, 1)),), (('x', (2,)),), 20, 0.05, 1e-3)
  assert fitter._train.experimental_get_tracing_count() == 1
  # Each fit starts from its own parameters and fresh Adam moments.
  np.testing.assert_array_equal(first['w'], again['w'])
