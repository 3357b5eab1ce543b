"""The three fusion methods behind one interface (DESIGN §6).

Every method combines the base rankers' *standardized* scores z_k (see weighted.Standardizer)
and may read request context c = [1, is_search, history_length_01, query_length / 8]:
  weighted  sum_k w_k z_k, w on the simplex, grid-searched for NDCG@10 (weighted.py)
  gated     sum_k g_k(c) z_k with g(c) = softmax(c A): per-request weights, fitted by ListNet
  stacking  a small MLP over [z, c] plus a linear term in z, fitted by ListNet; its validation
            metrics come from 5-fold cross-fitting by request (no row scores itself)
Each fit returns a Fused object that scores numpy arrays (fitting, reports, tests) and builds
the same formula in TensorFlow for the exported model, so both agree to float precision.
"""
import dataclasses
from typing import Any, Dict, List, Sequence

import numpy as np
import tensorflow as tf

from recfusion.models.fusion import listwise, weighted

CONTEXT_FEATURES = ('is_search', 'history_length_01', 'query_length')
QUERY_LENGTH_SCALE = 8.0


def context_matrix(context: Dict[str, Any], backend=np):
  """[1, is_search, history_length_01, query_length / 8] per example (numpy or tf)."""
  ones = backend.ones_like(context['is_search'])
  columns = [ones, context['is_search'], context['history_length_01'],
             context['query_length'] / QUERY_LENGTH_SCALE]
  return backend.stack(columns, axis=1)


@dataclasses.dataclass
class Fused:
  method: str
  names: List[str]
  params: Dict[str, np.ndarray]
  mean_weights: Dict[str, float] = dataclasses.field(default_factory=dict)

  def score(self, standardized: Dict[str, np.ndarray], context: Dict[str, np.ndarray]
            ) -> np.ndarray:
    z = np.stack([np.asarray(standardized[n], np.float64) for n in self.names], axis=1)
    if self.method == 'weighted':
      return z @ self.params['weights']
    c = context_matrix({k: np.asarray(v, np.float64) for k, v in context.items()})
    if self.method == 'gated':
      logits = c @ self.params['gate']
      gate = np.exp(logits - logits.max(axis=1, keepdims=True))
      gate /= gate.sum(axis=1, keepdims=True)
      return (gate * z).sum(axis=1)
    hidden = np.maximum(np.concatenate([z, c], axis=1) @ self.params['w1'] + self.params['b1'],
                        0)
    return (hidden @ self.params['w2'] + z @ self.params['v'])[:, 0]

  def score_tf(self, standardized: Dict[str, tf.Tensor], context: Dict[str, tf.Tensor]
               ) -> tf.Tensor:
    """The same formula as `score`, as graph ops for the exported model."""
    const = {k: tf.constant(v, tf.float32) for k, v in self.params.items()}
    z = tf.stack([tf.cast(standardized[n], tf.float32) for n in self.names], axis=1)
    if self.method == 'weighted':
      return tf.linalg.matvec(z, const['weights'])
    c = context_matrix({k: tf.cast(tf.reshape(v, [-1]), tf.float32) for k, v in context.items()},
                       backend=tf)
    if self.method == 'gated':
      return tf.reduce_sum(tf.nn.softmax(tf.matmul(c, const['gate']), axis=1) * z, axis=1)
    hidden = tf.nn.relu(tf.matmul(tf.concat([z, c], axis=1), const['w1']) + const['b1'])
    return (tf.matmul(hidden, const['w2']) + tf.matmul(z, const['v']))[:, 0]

  def describe(self) -> Dict[str, Any]:
    described: Dict[str, Any] = {'weights': self.mean_weights}
    if self.method == 'gated':
      described['gate'] = {
          'context': ['bias', 'is_search', 'history_length_01', 'query_length/8'],
          'logits_per_model': {n: [float(x) for x in self.params['gate'][:, k]]
                               for k, n in enumerate(self.names)}}
    if self.method == 'stacking':
      described['stacking'] = {
          'hidden_units': int(self.params['w1'].shape[1]),
          'linear_weights': {n: float(self.params['v'][k, 0])
                             for k, n in enumerate(self.names)}}
    return described


def fit_weighted(names, standardized, context, gains, request_ids, step=0.05) -> Fused:
  weights = weighted.fit_weights(request_ids, gains, standardized, step=step)
  return Fused('weighted', list(names), {'weights': np.array([weights[n] for n in names])},
               mean_weights=weights)


def fit_gated(names, standardized, context, gains, request_ids, steps=400) -> Fused:
  z = np.stack([standardized[n] for n in names], axis=1).astype(np.float32)
  c = context_matrix({k: np.asarray(v, np.float32) for k, v in context.items()})
  gate = tf.Variable(np.zeros((c.shape[1], len(names)), np.float32))
  z_t, c_t = tf.constant(z), tf.constant(c)
  listwise.fit(lambda p: tf.reduce_sum(tf.nn.softmax(tf.matmul(c_t, p['gate']), axis=1) * z_t,
                                       axis=1), {'gate': gate}, gains, request_ids, steps=steps)
  logits = c @ gate.numpy()
  per_example = np.exp(logits - logits.max(axis=1, keepdims=True))
  per_example /= per_example.sum(axis=1, keepdims=True)
  return Fused('gated', list(names), {'gate': gate.numpy()},
               mean_weights=dict(zip(names, map(float, per_example.mean(axis=0)))))


def _fit_mlp(z, c, gains, request_ids, hidden, steps, seed) -> Dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  x = np.concatenate([z, c], axis=1).astype(np.float32)
  params = {
      'w1': tf.Variable(rng.normal(0, 0.3, (x.shape[1], hidden)).astype(np.float32)),
      'b1': tf.Variable(np.zeros(hidden, np.float32)),
      'w2': tf.Variable(np.zeros((hidden, 1), np.float32)),
      'v': tf.Variable(np.full((z.shape[1], 1), 1.0 / z.shape[1], np.float32)),
  }
  x_t, z_t = tf.constant(x), tf.constant(z.astype(np.float32))
  listwise.fit(lambda p: (tf.matmul(tf.nn.relu(tf.matmul(x_t, p['w1']) + p['b1']), p['w2'])
                          + tf.matmul(z_t, p['v']))[:, 0], params, gains, request_ids,
               steps=steps)
  return {k: v.numpy() for k, v in params.items()}


def fit_stacking(names, standardized, context, gains, request_ids, steps=400, hidden=8,
                 folds=5, seed=0):
  """Returns (Fused fitted on all rows, out-of-fold scores for honest validation metrics)."""
  z = np.stack([standardized[n] for n in names], axis=1).astype(np.float32)
  c = context_matrix({k: np.asarray(v, np.float32) for k, v in context.items()})
  segments = listwise.request_segments(request_ids)
  fold_of_request = np.random.default_rng(seed).integers(0, folds, segments.max() + 1)
  fold = fold_of_request[segments]
  out_of_fold = np.zeros(len(gains))
  for k in range(folds):
    held_out = fold == k
    if not held_out.any() or held_out.all():
      continue
    params = _fit_mlp(z[~held_out], c[~held_out], gains[~held_out],
                      np.asarray(request_ids)[~held_out], hidden, steps, seed + k)
    part = Fused('stacking', list(names), params)
    out_of_fold[held_out] = part.score({n: standardized[n][held_out] for n in names},
                                       {n: np.asarray(v)[held_out] for n, v in context.items()})
  params = _fit_mlp(z, c, gains, request_ids, hidden, steps, seed + folds)
  fused = Fused('stacking', list(names), params,
                mean_weights={n: float(params['v'][k, 0]) for k, n in enumerate(names)})
  return fused, out_of_fold


def fit(method: str, names: Sequence[str], standardized, context, gains, request_ids,
        grid_step: float = 0.05):
  """(Fused, validation scores to report). Only stacking's differ from its own fit."""
  names = sorted(names)
  if method == 'weighted':
    fused = fit_weighted(names, standardized, context, gains, request_ids, grid_step)
  elif method == 'gated':
    fused = fit_gated(names, standardized, context, gains, request_ids)
  elif method == 'stacking':
    fused, out_of_fold = fit_stacking(names, standardized, context, gains, request_ids)
    return fused, out_of_fold
  else:
    raise ValueError(f'unknown fusion method {method!r}')
  return fused, fused.score(standardized, context)
