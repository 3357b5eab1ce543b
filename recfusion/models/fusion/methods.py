"""Fusion methods: each a class in one registry, fitted on `validation` and exported in-graph.

Every method combines the base rankers' *standardized* scores z_k (calibration.Standardizer)
and may read request context c = [1, is_search, history_length_01, query_length / 8]:
  weighted  sum_k w_k z_k, w on the simplex, grid-searched for NDCG@10
  gated     sum_k g_k(c) z_k with g(c) = softmax(c A): per-request weights, fitted by ListNet
  stacking  a small MLP over [z, c] plus a linear term in z, fitted by ListNet; its validation
            scores come from 5-fold cross-fitting by request (no row scores itself)
A method scores numpy arrays (fitting, reports, tests) and builds the same formula as graph ops
for the exported model (`score_tf`), so both agree to float precision. A new method is one
subclass decorated with `@register` (and its test); the config, the Fusion executor and the
benchmark find it by name.
"""
import abc
import itertools
from typing import Any, ClassVar, Dict, List, Mapping, Sequence, Tuple, Type

import numpy as np
import tensorflow as tf

from recfusion import features, ranking_metrics
from recfusion.config import ConfigError
from recfusion.models.fusion import listwise

CONTEXT_FEATURES = features.names('context')
QUERY_LENGTH_SCALE = 8.0
CONTEXT_COLUMNS = ('bias', 'is_search', 'history_length_01', 'query_length/8')

Arrays = Mapping[str, np.ndarray]


def context_matrix(context: Mapping[str, Any], backend=np):
  """[1, is_search, history_length_01, query_length / 8] per example (numpy or tf)."""
  ones = backend.ones_like(context['is_search'])
  columns = [ones, context['is_search'], context['history_length_01'],
             context['query_length'] / QUERY_LENGTH_SCALE]
  return backend.stack(columns, axis=1)


def _score_matrix(standardized: Arrays, names: Sequence[str], dtype=np.float64) -> np.ndarray:
  return np.stack([np.asarray(standardized[n], dtype) for n in names], axis=1)


class FusionMethod(abc.ABC):
  """A fitted combination of named rankers' standardized scores."""
  name: ClassVar[str]
  # True when `fit` returns out-of-fold validation scores instead of in-sample ones.
  cross_fitted: ClassVar[bool] = False

  def __init__(self, names: Sequence[str], params: Dict[str, np.ndarray],
               mean_weights: Dict[str, float]):
    self.names = list(names)
    self.params = params
    self.mean_weights = mean_weights

  @property
  def method(self) -> str:
    return self.name

  @classmethod
  @abc.abstractmethod
  def fit(cls, names: Sequence[str], standardized: Arrays, context: Arrays, gains: np.ndarray,
          request_ids: np.ndarray, **options) -> Tuple['FusionMethod', np.ndarray]:
    """(fitted method, its scores of the fitting rows as validation metrics should see them)."""

  @abc.abstractmethod
  def score(self, standardized: Arrays, context: Arrays) -> np.ndarray:
    """Fused scores with numpy."""

  @abc.abstractmethod
  def score_tf(self, standardized: Mapping[str, tf.Tensor],
               context: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """The same formula as `score`, as graph ops for the exported model."""

  def describe(self) -> Dict[str, Any]:
    return {'weights': self.mean_weights}

  def _constants(self) -> Dict[str, tf.Tensor]:
    return {k: tf.constant(v, tf.float32) for k, v in self.params.items()}

  def _z_tf(self, standardized: Mapping[str, tf.Tensor]) -> tf.Tensor:
    return tf.stack([tf.cast(standardized[n], tf.float32) for n in self.names], axis=1)


_REGISTRY: Dict[str, Type[FusionMethod]] = {}


def register(cls: Type[FusionMethod]) -> Type[FusionMethod]:
  _REGISTRY[cls.name] = cls
  return cls


def names() -> Tuple[str, ...]:
  return tuple(_REGISTRY)


def get(name: str) -> Type[FusionMethod]:
  if name not in _REGISTRY:
    raise ConfigError(f'fusion.method: unknown fusion method {name!r}; choose from auto, '
                      f'{", ".join(_REGISTRY)}')
  return _REGISTRY[name]


def fit(method: str, names: Sequence[str], standardized: Arrays, context: Arrays,
        gains: np.ndarray, request_ids: np.ndarray, **options) -> Tuple[FusionMethod, np.ndarray]:
  """Fits `method` on the rankers `names` (sorted, so the formula never depends on order)."""
  return get(method).fit(sorted(names), standardized, context, gains, request_ids, **options)


def simplex_grid(num_models: int, step: float) -> List[np.ndarray]:
  units = int(round(1 / step))
  return [np.array(c, dtype=float) / units
          for c in itertools.product(range(units + 1), repeat=num_models) if sum(c) == units]


@register
class Weighted(FusionMethod):
  """Non-negative weights over standardized scores, chosen on a grid to maximize NDCG@10.

  With a handful of rankers the simplex grid is small, and the ranking objective needs no
  differentiable surrogate. On ties the sparsest mix wins (grid visited by decreasing largest
  weight): it rests on the fewest models for the same ranking quality.
  """
  name = 'weighted'

  @classmethod
  def fit(cls, names, standardized, context, gains, request_ids, grid_step: float = 0.05,
          **_):
    matrix = _score_matrix(standardized, names)
    grid = sorted(simplex_grid(len(names), grid_step), key=lambda w: -w.max())
    values = ranking_metrics.NDCG(request_ids, gains, 10).many_of(grid,
                                                                   lambda weights: matrix @ weights)
    best, best_ndcg = None, -1.0
    for weights, ndcg in zip(grid, values):
      if ndcg > best_ndcg + 1e-12:
        best, best_ndcg = weights, ndcg
    fused = cls(names, {'weights': best}, dict(zip(names, map(float, best))))
    return fused, fused.score(standardized, context)

  def score(self, standardized, context):
    return _score_matrix(standardized, self.names) @ self.params['weights']

  def score_tf(self, standardized, context):
    return tf.linalg.matvec(self._z_tf(standardized), self._constants()['weights'])


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
  exp = np.exp(logits - logits.max(axis=1, keepdims=True))
  return exp / exp.sum(axis=1, keepdims=True)


@register
class Gated(FusionMethod):
  """Per-request weights: a softmax gate over request context.

  Fitted in three steps, because ListNet (smooth, so gradient steps work) is not NDCG and can
  prefer a gate that ranks worse than fixed weights:
    1. the `weighted` solution, as a gate that ignores context (bias logits log w);
    2. ListNet from there, to learn how the weights should move with the context;
    3. a line search on NDCG@10 itself along the path from 1 to 2 (and a little beyond).
  Point 0 of the path is the fixed weights, so the gate never ranks the fitting rows worse than
  `weighted` does.
  """
  name = 'gated'
  PATH = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)

  @classmethod
  def fit(cls, names, standardized, context, gains, request_ids, steps: int = 400,
          grid_step: float = 0.05, **_):
    z = _score_matrix(standardized, names, np.float32)
    c = context_matrix({k: np.asarray(v, np.float32) for k, v in context.items()})
    fixed, _ = Weighted.fit(names, standardized, context, gains, request_ids,
                            grid_step=grid_step)
    start = np.zeros((c.shape[1], len(names)), np.float32)
    start[0] = np.log(np.maximum(fixed.params['weights'], 1e-4))
    learned = listwise.fit(_gated_scores, {'gate': start}, {'z': z, 'c': c}, gains,
                           request_ids, steps=steps)[0]['gate']
    ndcg_at_10 = ranking_metrics.NDCG(request_ids, gains, 10)
    path = {t: start + np.float32(t) * (learned - start) for t in cls.PATH}
    # Ties go to the point nearer the fixed weights: the simpler model.
    step = max(cls.PATH, key=lambda t: (
        round(ndcg_at_10((_softmax_rows(c @ path[t]) * z).sum(axis=1)), 12), -t))
    params = path[step]
    per_example = _softmax_rows(c @ params)
    fused = cls(names, {'gate': params}, dict(zip(names, map(float, per_example.mean(axis=0)))))
    fused.path_step = step
    return fused, fused.score(standardized, context)

  def score(self, standardized, context):
    c = context_matrix({k: np.asarray(v, np.float64) for k, v in context.items()})
    return (_softmax_rows(c @ self.params['gate']) * _score_matrix(standardized, self.names)
            ).sum(axis=1)

  def score_tf(self, standardized, context):
    c = context_matrix({k: tf.cast(tf.reshape(v, [-1]), tf.float32) for k, v in context.items()},
                       backend=tf)
    return _gated_scores(self._constants(), {'c': c, 'z': self._z_tf(standardized)})

  def describe(self):
    return {**super().describe(), 'gate': {
        'context': list(CONTEXT_COLUMNS),
        'path_step': getattr(self, 'path_step', None),
        'logits_per_model': {n: [float(x) for x in self.params['gate'][:, k]]
                             for k, n in enumerate(self.names)}}}


@register
class Stacking(FusionMethod):
  """A small MLP over [z, c] plus a linear term in z, fitted by ListNet and cross-fitted."""
  name = 'stacking'
  cross_fitted = True

  @classmethod
  def _fit_params(cls, z, c, gains, request_ids, hidden, steps, seed) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([z, c], axis=1).astype(np.float32)
    params = {
        'w1': rng.normal(0, 0.3, (x.shape[1], hidden)).astype(np.float32),
        'b1': np.zeros(hidden, np.float32),
        'w2': np.zeros((hidden, 1), np.float32),
        'v': np.full((z.shape[1], 1), 1.0 / z.shape[1], np.float32),
    }
    return listwise.fit(_stacking_scores, params, {'x': x, 'z': z}, gains, request_ids,
                        steps=steps)[0]

  @classmethod
  def fit(cls, names, standardized, context, gains, request_ids, steps: int = 400,
          hidden: int = 8, folds: int = 5, seed: int = 0, **_):
    z = _score_matrix(standardized, names, np.float32)
    c = context_matrix({k: np.asarray(v, np.float32) for k, v in context.items()})
    segments = listwise.request_segments(request_ids)
    fold = np.random.default_rng(seed).integers(0, folds, segments.max() + 1)[segments]
    out_of_fold = np.zeros(len(gains))
    for k in range(folds):
      held_out = fold == k
      if not held_out.any() or held_out.all():
        continue
      part = cls(names, cls._fit_params(z[~held_out], c[~held_out], gains[~held_out],
                                        np.asarray(request_ids)[~held_out], hidden, steps,
                                        seed + k), {})
      out_of_fold[held_out] = part.score({n: standardized[n][held_out] for n in names},
                                         {n: np.asarray(v)[held_out] for n, v in context.items()})
    params = cls._fit_params(z, c, gains, request_ids, hidden, steps, seed + folds)
    fused = cls(names, params, {n: float(params['v'][k, 0]) for k, n in enumerate(names)})
    return fused, out_of_fold

  def score(self, standardized, context):
    z = _score_matrix(standardized, self.names)
    c = context_matrix({k: np.asarray(v, np.float64) for k, v in context.items()})
    hidden = np.maximum(np.concatenate([z, c], axis=1) @ self.params['w1'] + self.params['b1'],
                        0)
    return (hidden @ self.params['w2'] + z @ self.params['v'])[:, 0]

  def score_tf(self, standardized, context):
    const = self._constants()
    z = self._z_tf(standardized)
    c = context_matrix({k: tf.cast(tf.reshape(v, [-1]), tf.float32) for k, v in context.items()},
                       backend=tf)
    return _stacking_scores(const, {'x': tf.concat([z, c], axis=1), 'z': z})

  def describe(self):
    return {**super().describe(), 'stacking': {
        'hidden_units': int(self.params['w1'].shape[1]),
        'linear_weights': {n: float(self.params['v'][k, 0]) for k, n in enumerate(self.names)}}}


# Each formula once, in TensorFlow: the ListNet fit's graph and the exported model's.
def _gated_scores(params, data):
  gate = tf.nn.softmax(tf.matmul(data['c'], params['gate']), axis=1)
  return tf.reduce_sum(gate * data['z'], axis=1)


def _stacking_scores(params, data):
  hidden = tf.nn.relu(tf.matmul(data['x'], params['w1']) + params['b1'])
  return (tf.matmul(hidden, params['w2']) + tf.matmul(data['z'], params['v']))[:, 0]


class Single(Weighted):
  """One ranker alone, as fusion candidates go: what every combination must beat.

  Not registered as a method of its own: the `auto` choice (fitting.py) adds one per ranker.
  """
  name = 'single'

  @classmethod
  def of(cls, ranker: str, names: Sequence[str]) -> 'Single':
    weights = np.array([1.0 if n == ranker else 0.0 for n in names])
    single = cls(names, {'weights': weights}, dict(zip(names, map(float, weights))))
    single.ranker = ranker
    return single

  @classmethod
  def fit(cls, names, standardized, context, gains, request_ids, ranker: str = '', **_):
    single = cls.of(ranker, names)
    return single, single.score(standardized, context)

  def describe(self):
    return {**super().describe(), 'single': getattr(self, 'ranker', None)}
