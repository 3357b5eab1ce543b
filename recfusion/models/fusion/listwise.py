"""Fitting fusion parameters to a listwise ranking loss (ListNet) on `validation`.

`gated` and `stacking` both score a candidate with a small differentiable function of the base
scores and request context, and both are fitted the same way: full-batch Adam on the ListNet
loss, the cross-entropy between each request's gain distribution (gain / sum of gains) and the
softmax of its scores. Requests without any gain carry no ranking signal and are left out.
"""
from typing import Callable, Dict, List

import numpy as np
import tensorflow as tf
import tf_keras


def request_segments(request_ids: np.ndarray) -> np.ndarray:
  """Dense segment ids 0..R-1, one per distinct request id."""
  _, segments = np.unique(np.asarray(request_ids), return_inverse=True)
  return segments.astype(np.int32)


def listnet_loss(scores: tf.Tensor, gains: tf.Tensor, segments: tf.Tensor,
                 num_segments: int) -> tf.Tensor:
  gain_sum = tf.math.unsorted_segment_sum(gains, segments, num_segments)
  target = tf.math.divide_no_nan(gains, tf.gather(gain_sum, segments))
  # log-softmax within each request, stabilized by the request's max score.
  top = tf.math.unsorted_segment_max(scores, segments, num_segments)
  shifted = scores - tf.gather(top, segments)
  log_norm = tf.math.log(tf.math.unsorted_segment_sum(tf.exp(shifted), segments,
                                                      num_segments))
  log_softmax = shifted - tf.gather(log_norm, segments)
  per_request = -tf.math.unsorted_segment_sum(target * log_softmax, segments, num_segments)
  has_gain = tf.cast(gain_sum > 0, tf.float32)
  return tf.reduce_sum(per_request * has_gain) / tf.maximum(tf.reduce_sum(has_gain), 1.0)


def fit(score_fn: Callable[[Dict[str, tf.Variable]], tf.Tensor],
        params: Dict[str, tf.Variable], gains: np.ndarray, request_ids: np.ndarray,
        steps: int = 400, learning_rate: float = 0.05, l2: float = 1e-3) -> List[float]:
  """Minimizes ListNet (+ a small L2 on the parameters) in place; returns the loss curve."""
  segments = request_segments(request_ids)
  num_segments = int(segments.max()) + 1 if len(segments) else 0
  gains_t = tf.constant(np.asarray(gains, dtype=np.float32))
  segments_t = tf.constant(segments)
  optimizer = tf_keras.optimizers.Adam(learning_rate)
  variables = list(params.values())

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = listnet_loss(score_fn(params), gains_t, segments_t, num_segments)
      penalty = l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
      total = loss + penalty
    optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
    return loss

  return [float(step()) for _ in range(steps)]
