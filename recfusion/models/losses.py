"""Ranking losses over the requests found in a batch (`trainers.<name>.loss`).

Labels are [batch, 2]: column 0 the graded gain (0..3), column 1 a request key (a hash of the
request id, exact in float32). Examples of one request form one list wherever they sit in the
batch, so the losses stay correct whatever the order; the Trainers read Transform output in
file order, where a request's candidates are adjacent, and shuffle whole batches, so lists
arrive whole except at batch edges.

  pointwise  sigmoid cross-entropy on gain / 3 per example (the request is ignored)
  pairwise   RankNet: logistic loss on the score difference of every pair of one request with
             different gains, weighted by the gain difference
  listwise   ListNet: softmax cross-entropy between the scores and the gains of each request
             (the top-one probability of a candidate ~ its share of the request's gain)
Ranking losses leave the score scale free: Fusion standardizes and calibrates downstream.
"""
import tensorflow as tf

from recfusion.config import RANKING_LOSSES as LOSSES
MAX_GAIN = 3.0
REQUEST_KEY_BUCKETS = 2 ** 24  # float32 holds every integer below 2**24 exactly


def request_key(request_ids: tf.Tensor) -> tf.Tensor:
  return tf.cast(tf.strings.to_hash_bucket_fast(request_ids, REQUEST_KEY_BUCKETS), tf.float32)


def _unpack(y_true, y_pred):
  y_true = tf.reshape(tf.cast(y_true, tf.float32), [-1, 2])
  return y_true[:, 0], y_true[:, 1], tf.reshape(tf.cast(y_pred, tf.float32), [-1])


def pointwise(y_true, y_pred):
  gain, _, scores = _unpack(y_true, y_pred)
  labels = tf.clip_by_value(gain / MAX_GAIN, 0.0, 1.0)
  return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=scores))


def pairwise(y_true, y_pred):
  gain, key, scores = _unpack(y_true, y_pred)
  same_request = tf.equal(key[:, None], key[None, :])
  # weight[i, j] > 0 where i should rank above j.
  weight = tf.where(same_request, tf.nn.relu(gain[:, None] - gain[None, :]), 0.0)
  margin = scores[:, None] - scores[None, :]
  pair_losses = weight * tf.nn.softplus(-margin)
  return tf.math.divide_no_nan(tf.reduce_sum(pair_losses), tf.reduce_sum(weight))


def listwise(y_true, y_pred):
  gain, key, scores = _unpack(y_true, y_pred)
  same_request = tf.equal(key[:, None], key[None, :])
  log_normalizer = tf.reduce_logsumexp(
      tf.where(same_request, scores[None, :], tf.float32.min), axis=1)
  request_gain = tf.reduce_sum(tf.where(same_request, gain[None, :], 0.0), axis=1)
  target = tf.math.divide_no_nan(gain, request_gain)
  request_size = tf.reduce_sum(tf.cast(same_request, tf.float32), axis=1)
  # Each request with any gain counts once, however many candidates it has.
  requests_with_gain = tf.reduce_sum(
      tf.where(request_gain > 0, 1.0 / request_size, 0.0))
  return tf.math.divide_no_nan(tf.reduce_sum(-target * (scores - log_normalizer)),
                               requests_with_gain)


def get(name: str):
  if name not in LOSSES:
    raise ValueError(f'unknown loss {name!r}; choose one of {", ".join(LOSSES)}')
  return {'pointwise': pointwise, 'pairwise': pairwise, 'listwise': listwise}[name]
