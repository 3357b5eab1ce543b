"""Unit tests of the ranking losses on two tiny requests with known answers."""
import numpy as np
import pytest
import tensorflow as tf

from recfusion.models import losses


def _labels(gains, keys):
  return tf.constant(np.stack([gains, keys], axis=1), tf.float32)


def _scores(values):
  return tf.constant(np.reshape(values, [-1, 1]), tf.float32)


def test_listwise_is_softmax_cross_entropy_per_request_averaged_over_requests():
  # Request 1: gains (3, 1, 0); request 2: gains (0, 2). Interleaved on purpose.
  labels = _labels([3, 0, 1, 2, 0], [1, 2, 1, 2, 1])
  scores = np.array([2.0, 0.5, 1.0, -1.0, 0.0])
  first = scores[[0, 2, 4]]
  first_loss = -(0.75 * (first[0] - np.log(np.exp(first).sum())) +
                 0.25 * (first[1] - np.log(np.exp(first).sum())))
  second = scores[[1, 3]]
  second_loss = -(second[1] - np.log(np.exp(second).sum()))
  expected = (first_loss + second_loss) / 2
  assert losses.listwise(labels, _scores(scores)).numpy() == pytest.approx(expected, rel=1e-5)


def test_listwise_ignores_requests_without_gain_and_other_requests_scores():
  labels = _labels([1, 0, 0, 0], [1, 1, 2, 2])
  base = losses.listwise(labels, _scores([1.0, 0.0, 5.0, -5.0])).numpy()
  moved = losses.listwise(labels, _scores([1.0, 0.0, -7.0, 9.0])).numpy()
  assert base == pytest.approx(moved) == pytest.approx(np.log(1 + np.exp(-1.0)), rel=1e-5)


def test_pairwise_is_gain_weighted_ranknet_within_requests_only():
  labels = _labels([2, 0, 1, 0], [1, 1, 2, 2])
  scores = np.array([1.0, 1.0, 0.0, 3.0])
  # Pairs: (0 over 1) weight 2, margin 0; (2 over 3) weight 1, margin -3.
  expected = (2 * np.log(2.0) + 1 * np.log1p(np.exp(3.0))) / 3
  assert losses.pairwise(labels, _scores(scores)).numpy() == pytest.approx(expected, rel=1e-5)


def test_pointwise_is_sigmoid_cross_entropy_on_gain_over_three():
  labels = _labels([3, 0], [1, 1])
  scores = np.array([0.0, 0.0])
  assert losses.pointwise(labels, _scores(scores)).numpy() == pytest.approx(np.log(2.0))


def test_ranking_losses_prefer_the_right_order():
  labels = _labels([3, 1, 0], [4, 4, 4])
  for loss in (losses.listwise, losses.pairwise):
    right = loss(labels, _scores([2.0, 1.0, 0.0])).numpy()
    wrong = loss(labels, _scores([0.0, 1.0, 2.0])).numpy()
    assert right < wrong


def test_request_key_is_stable_and_exact_in_float32():
  keys = losses.request_key(tf.constant(['req-1', 'req-2', 'req-1'])).numpy()
  assert keys[0] == keys[2] != keys[1]
  assert (keys < losses.REQUEST_KEY_BUCKETS).all() and (keys == np.round(keys)).all()


def test_unknown_loss_names_the_choices():
  with pytest.raises(ValueError, match='pointwise, pairwise, listwise'):
    losses.get('hinge')
