"""Fitting fusion parameters to a listwise ranking loss (ListNet) on `validation`.

`gated` and `stacking` both score a candidate with a small differentiable function of the base
scores and request context, and both are fitted the same way: full-batch Adam on the ListNet
loss, the cross-entropy between each request's gain distribution (gain / sum of gains) and the
softmax of its scores. Requests without any gain carry no ranking signal and are left out.
"""
import functools
import threading
from typing import Callable, Dict, List, Tuple

import numpy as np
import tensorflow as tf


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


# tf_keras's Adam defaults.
_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7

ScoreFn = Callable[[Dict[str, tf.Tensor], Dict[str, tf.Tensor]], tf.Tensor]


def fit(score_fn: ScoreFn, params: Dict[str, np.ndarray], data: Dict[str, np.ndarray],
        gains: np.ndarray, request_ids: np.ndarray, steps: int = 400,
        learning_rate: float = 0.05, l2: float = 1e-3) -> Tuple[Dict[str, np.ndarray],
                                                                 List[float]]:
  """Minimizes ListNet (+ a small L2 on the parameters) with Adam from `params`; returns the
  fitted parameters and the loss curve. `score_fn(params, data)` scores every row from those
  two alone, and is defined once (module level): the traced graph is kept per function, so
  every fit of one method reuses it (a closure made per fit would trace, and be kept, anew).

  The whole loop is one graph: on a validation split of a few thousand rows, dispatching 400
  steps from Python and tracing a Keras optimizer cost far more than the steps (measured: a
  4-weight fit on 640 rows, 1.8 s warm and 10.8 s on first use). Each step is TensorFlow's own
  Adam kernel (ResourceApplyAdam, the update tf_keras's Adam makes). The data are arguments
  of that graph, not constants in it: `auto` fits each method once per fold, and a trace per
  fit (0.2 s each) made the fits 2.8 s of a quick run's Fusion step; one trace per method
  saved 1.4 s of it, with the same fitted values.
  """
  segments = request_segments(request_ids)
  num_segments = int(segments.max()) + 1 if len(segments) else 0
  data = {name: np.asarray(values, np.float32) for name, values in data.items()}
  fitter = _fitter(score_fn, tuple((name, np.shape(value)) for name, value in params.items()),
                   tuple((name, values.shape[1:]) for name, values in sorted(data.items())),
                   steps, learning_rate, l2)
  return fitter(params, data, np.asarray(gains, np.float32), segments, num_segments)


class _Fitter:
  """Adam on ListNet for one score function, parameter shapes and data columns. Its variables
  are shared by every fit through it, so fits take turns (a lock)."""

  def __init__(self, score_fn: ScoreFn, param_shapes, data_shapes, steps: int,
               learning_rate: float, l2: float):
    # In the caller's order: the L2 penalty sums the parameters in it.
    self._variables = {name: tf.Variable(tf.zeros(shape), name=name)
                       for name, shape in param_shapes}
    self._moments = {name: (tf.Variable(tf.zeros(shape)), tf.Variable(tf.zeros(shape)))
                     for name, shape in param_shapes}
    variables = list(self._variables.values())
    moments = list(self._moments.values())
    rows = tf.TensorSpec([None], tf.float32)
    data_spec = {name: tf.TensorSpec([None, *shape], tf.float32) for name, shape in data_shapes}

    @tf.function(autograph=False, input_signature=[
        data_spec, rows, tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)])
    def train(data, gains, segments, num_segments):
      def step(i, losses):
        with tf.GradientTape() as tape:
          loss = listnet_loss(score_fn(self._variables, data), gains, segments, num_segments)
          penalty = l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
          total = loss + penalty
        t = tf.cast(i + 1, tf.float32)
        updates = [tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.handle, v=v.handle, beta1_power=tf.pow(_BETA_1, t),
            beta2_power=tf.pow(_BETA_2, t), lr=tf.constant(learning_rate, tf.float32),
            beta1=tf.constant(_BETA_1, tf.float32), beta2=tf.constant(_BETA_2, tf.float32),
            epsilon=tf.constant(_EPSILON, tf.float32), grad=gradient)
            for variable, gradient, (m, v) in zip(variables, tape.gradient(total, variables),
                                                 moments)]
        with tf.control_dependencies(updates):
          return i + 1, losses.write(i, loss)
      _, losses = tf.while_loop(lambda i, _: i < steps, step,
                                (tf.constant(0), tf.TensorArray(tf.float32, size=steps)))
      return losses.stack()
    self._train = train
    self._lock = threading.Lock()

  def __call__(self, params, data, gains, segments, num_segments):
    with self._lock:
      for name, variable in self._variables.items():
        variable.assign(np.asarray(params[name], np.float32))
        for moment in self._moments[name]:
          moment.assign(tf.zeros_like(moment))
      losses = self._train(data, gains, segments, np.int32(num_segments))
      return ({name: v.numpy() for name, v in self._variables.items()},
              [float(loss) for loss in losses.numpy()])


@functools.lru_cache(maxsize=8)
def _fitter(score_fn, param_shapes, data_shapes, steps, learning_rate, l2) -> _Fitter:
  return _Fitter(score_fn, param_shapes, data_shapes, steps, learning_rate, l2)
