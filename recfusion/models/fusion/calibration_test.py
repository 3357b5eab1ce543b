"""Unit tests of standardization and Platt calibration on tiny inputs with known answers."""
import numpy as np
import pytest

from recfusion.models.fusion import calibration


def test_standardizer():
  s = calibration.Standardizer.fit(np.array([1.0, 3.0]))
  assert (s.mean, s.std) == (2.0, 1.0)
  assert calibration.Standardizer.fit(np.array([5.0, 5.0])).std == 1.0


def test_platt_recovers_a_known_calibration():
  rng = np.random.default_rng(1)
  x = rng.normal(size=20000)
  y = rng.random(20000) < 1 / (1 + np.exp(-(2.0 * x - 1.0)))
  a, b = calibration.fit_platt(x, y)
  assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)


def test_platt_stays_finite_on_huge_score_scales():
  rng = np.random.default_rng(2)
  x = rng.normal(size=5000) * 1e6
  y = rng.random(5000) < 1 / (1 + np.exp(-x / 1e6))
  a, b = calibration.fit_platt(x, y)
  assert np.isfinite([a, b]).all()
  assert a * 1e6 == pytest.approx(1.0, abs=0.15)


def test_platt_with_one_class_only_learns_no_slope():
  slope, bias = calibration.fit_platt(np.array([0.1, 0.5, 0.9]), np.array([False] * 3))
  assert slope == 0.0 and bias == pytest.approx(np.log(0.5 / 3.5))


def test_platt_matches_the_closed_form_of_two_separable_groups_with_overlap():
  # Scores 0 and 1, engaged 1 of 4 and 3 of 4: the unpenalized fit is exact,
  # sigmoid(b) = 1/4 and sigmoid(a + b) = 3/4.
  x = np.array([0.0] * 4 + [1.0] * 4)
  y = np.array([1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
  slope, bias = calibration.fit_platt(x, y)
  assert bias == pytest.approx(np.log(1 / 3), abs=1e-4)
  assert slope == pytest.approx(2 * np.log(3), abs=1e-4)
