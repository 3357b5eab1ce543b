"""Unit tests of the fusion methods on tiny inputs with known answers."""
import numpy as np
import pytest
import tensorflow as tf

from recfusion import ranking_metrics
from recfusion.models.fusion import methods


def _two_experts(requests=80, per_request=5, seed=0):
  """Model a ranks search requests right, model b recommendation requests; each is noise on
  the other kind. A gate on is_search can use both; no single weight can."""
  rng = np.random.default_rng(seed)
  n = requests * per_request
  request_ids = np.repeat(np.arange(requests), per_request).astype(str)
  is_search = np.repeat(np.arange(requests) % 2, per_request).astype(np.float32)
  gains = rng.integers(0, 4, n).astype(np.float32)
  a = np.where(is_search == 1, gains + 0.1 * rng.normal(size=n), rng.normal(size=n) * 2)
  b = np.where(is_search == 0, gains + 0.1 * rng.normal(size=n), rng.normal(size=n) * 2)
  standardized = {'a': (a - a.mean()) / a.std(), 'b': (b - b.mean()) / b.std()}
  context = {'is_search': is_search, 'history_length_01': np.zeros(n, np.float32),
             'query_length': 2 * is_search}
  return standardized, context, gains, request_ids


def _ndcg(scores, gains, request_ids, mask=None):
  mask = np.ones(len(gains), bool) if mask is None else mask
  return ranking_metrics.ndcg_at_k(request_ids[mask], gains[mask], scores[mask], 10)


def test_gate_learns_to_trust_a_on_search_and_b_on_recommendations():
  standardized, context, gains, ids = _two_experts()
  gated, scores = methods.fit('gated', ['a', 'b'], standardized, context, gains, ids)
  weighted, weighted_scores = methods.fit('weighted', ['a', 'b'], standardized, context, gains,
                                          ids, grid_step=0.1)
  search = context['is_search'] == 1
  logits = methods.context_matrix(context) @ gated.params['gate']
  gate = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  assert gate[search, 0].min() > 0.8 and gate[~search, 1].min() > 0.8
  assert _ndcg(scores, gains, ids) > 0.97
  assert _ndcg(scores, gains, ids) > _ndcg(weighted_scores, gains, ids) + 0.05


def test_stacking_is_cross_fitted_and_learns_the_interaction():
  standardized, context, gains, ids = _two_experts()
  fused, out_of_fold = methods.fit('stacking', ['a', 'b'], standardized, context, gains, ids)
  in_sample = fused.score(standardized, context)
  # Out-of-fold scores come from models that never saw the row, so they differ from the
  # final (all-rows) model's, and still rank well because the pattern generalizes.
  assert not np.allclose(out_of_fold, in_sample)
  assert _ndcg(out_of_fold, gains, ids) > 0.9


def test_stacking_on_noise_does_not_report_inflated_validation_quality():
  rng = np.random.default_rng(3)
  n = 400
  ids = np.repeat(np.arange(80), 5).astype(str)
  gains = rng.integers(0, 4, n).astype(np.float32)
  standardized = {'a': rng.normal(size=n), 'b': rng.normal(size=n)}
  context = {'is_search': rng.integers(0, 2, n).astype(np.float32),
             'history_length_01': rng.random(n).astype(np.float32),
             'query_length': np.zeros(n, np.float32)}
  _, out_of_fold = methods.fit('stacking', ['a', 'b'], standardized, context, gains, ids)
  random_ndcg = np.mean([_ndcg(rng.normal(size=n), gains, ids) for _ in range(20)])
  assert abs(_ndcg(out_of_fold, gains, ids) - random_ndcg) < 0.08


@pytest.mark.parametrize('method', ['weighted', 'gated', 'stacking'])
def test_graph_formula_matches_numpy_formula(method):
  standardized, context, gains, ids = _two_experts(requests=20)
  fused, _ = methods.fit(method, ['a', 'b'], standardized, context, gains, ids, grid_step=0.25)
  expected = fused.score(standardized, context)
  graph = fused.score_tf({k: tf.constant(v) for k, v in standardized.items()},
                         {k: tf.constant(v) for k, v in context.items()}).numpy()
  np.testing.assert_allclose(graph, expected, rtol=1e-5, atol=1e-5)
  assert set(fused.describe()['weights']) == {'a', 'b'}


def test_unknown_method_is_a_config_error_naming_the_registered_ones():
  from recfusion.config import ConfigError
  with pytest.raises(ConfigError, match="unknown fusion method 'vote'; choose from auto, weighted, "
                                        "gated, stacking"):
    methods.fit('vote', ['a'], {'a': np.zeros(2)}, {}, np.zeros(2), np.array(['r', 'r']))


def test_simplex_grid_covers_the_simplex():
  grid = methods.simplex_grid(3, 0.5)
  assert len(grid) == 6
  assert all(abs(w.sum() - 1) < 1e-12 and (w >= 0).all() for w in grid)


def test_fit_puts_all_weight_on_the_only_informative_model():
  rng = np.random.default_rng(0)
  ids = np.repeat(np.arange(50), 5).astype(str)
  gains = rng.integers(0, 4, size=250).astype(float)
  scores = {'good': gains + 0.01 * rng.normal(size=250),
            'noise_a': rng.normal(size=250), 'noise_b': rng.normal(size=250)}
  weights = methods.fit('weighted', list(scores), scores, {}, gains, ids, grid_step=0.1)[0].mean_weights
  assert weights == {'good': 1.0, 'noise_a': 0.0, 'noise_b': 0.0}


def test_fit_mixes_models_that_each_know_half_of_the_requests():
  # Model a orders requests 0..9 right and b orders 10..19 right; each is flat elsewhere,
  # and a flat score keeps the input order, which is the worst one here.
  ids = np.repeat(np.arange(20), 3).astype(str)
  gains = np.tile([0.0, 1.0, 3.0], 20)
  right = np.tile([0.0, 1.0, 2.0], 20)
  a = np.where(np.arange(60) < 30, right, 0.0)
  b = np.where(np.arange(60) >= 30, right, 0.0)
  weights = methods.fit('weighted', ['a', 'b'], {'a': a, 'b': b}, {}, gains, ids,
                        grid_step=0.1)[0].mean_weights
  assert weights['a'] > 0 and weights['b'] > 0
  fused = weights['a'] * a + weights['b'] * b
  assert ranking_metrics.ndcg_at_k(ids, gains, fused, 10) == 1.0

