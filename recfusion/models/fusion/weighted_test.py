"""Unit tests of weighted fusion on tiny inputs with known answers."""
import numpy as np
import pytest

from recfusion.models.fusion import weighted


def test_standardizer():
  s = weighted.Standardizer.fit(np.array([1.0, 3.0]))
  assert (s.mean, s.std) == (2.0, 1.0)
  assert weighted.Standardizer.fit(np.array([5.0, 5.0])).std == 1.0


def test_simplex_grid_covers_the_simplex():
  grid = weighted.simplex_grid(3, 0.5)
  assert len(grid) == 6
  assert all(abs(w.sum() - 1) < 1e-12 and (w >= 0).all() for w in grid)


def test_fit_puts_all_weight_on_the_only_informative_model():
  rng = np.random.default_rng(0)
  ids = np.repeat(np.arange(50), 5).astype(str)
  gains = rng.integers(0, 4, size=250).astype(float)
  scores = {'good': gains + 0.01 * rng.normal(size=250),
            'noise_a': rng.normal(size=250), 'noise_b': rng.normal(size=250)}
  weights = weighted.fit_weights(ids, gains, scores, step=0.1)
  assert weights == {'good': 1.0, 'noise_a': 0.0, 'noise_b': 0.0}


def test_fit_mixes_models_that_each_know_half_of_the_requests():
  # Model a orders requests 0..9 right and b orders 10..19 right; each is flat elsewhere,
  # and a flat score keeps the input order, which is the worst one here.
  ids = np.repeat(np.arange(20), 3).astype(str)
  gains = np.tile([0.0, 1.0, 3.0], 20)
  right = np.tile([0.0, 1.0, 2.0], 20)
  a = np.where(np.arange(60) < 30, right, 0.0)
  b = np.where(np.arange(60) >= 30, right, 0.0)
  weights = weighted.fit_weights(ids, gains, {'a': a, 'b': b}, step=0.1)
  assert weights['a'] > 0 and weights['b'] > 0
  fused = weights['a'] * a + weights['b'] * b
  from recfusion import ranking_metrics
  assert ranking_metrics.ndcg_at_k(ids, gains, fused, 10) == 1.0


def test_platt_recovers_a_known_calibration():
  rng = np.random.default_rng(1)
  x = rng.normal(size=20000)
  y = rng.random(20000) < 1 / (1 + np.exp(-(2.0 * x - 1.0)))
  a, b = weighted.fit_platt(x, y)
  assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)


def test_platt_stays_finite_on_huge_score_scales():
  rng = np.random.default_rng(2)
  x = rng.normal(size=5000) * 1e6
  y = rng.random(5000) < 1 / (1 + np.exp(-x / 1e6))
  a, b = weighted.fit_platt(x, y)
  assert np.isfinite([a, b]).all()
  assert a * 1e6 == pytest.approx(1.0, abs=0.15)
