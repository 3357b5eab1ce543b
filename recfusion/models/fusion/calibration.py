"""Putting scores on known scales: standardization before fusion, Platt calibration after.

Each ranker's score is standardized with its mean and standard deviation on `validation`, so
fusion weights compare rankers on one scale; the fused score is then mapped to an engagement
probability by logistic (Platt) calibration, fitted on the same split.
"""
import dataclasses
from typing import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Standardizer:
  mean: float
  std: float

  @classmethod
  def fit(cls, scores: np.ndarray) -> 'Standardizer':
    std = float(np.std(scores))
    return cls(float(np.mean(scores)), std if std > 1e-12 else 1.0)

  def apply(self, scores: np.ndarray) -> np.ndarray:
    return (scores - self.mean) / self.std


def fit_platt(scores: np.ndarray, engaged: np.ndarray, iterations: int = 100,
              l2: float = 1e-3) -> Sequence[float]:
  """Logistic calibration p = sigmoid(a * score + b) of engagement.

  Newton's method on standardized scores with a small L2 penalty: fused scores can have any
  scale (a listwise loss does not pin it), and unstandardized Newton steps diverge there.
  """
  x = np.asarray(scores, dtype=float)
  y = np.asarray(engaged, dtype=float)
  mean, std = float(x.mean()), float(x.std()) or 1.0
  u = (x - mean) / std
  slope, bias = 0.0, 0.0
  for _ in range(iterations):
    p = 1.0 / (1.0 + np.exp(-np.clip(slope * u + bias, -30, 30)))
    w = p * (1 - p)
    gradient = np.array([((p - y) * u).sum() + l2 * slope, (p - y).sum()])
    hessian = np.array([[(w * u * u).sum() + l2, (w * u).sum()],
                        [(w * u).sum(), w.sum() + 1e-9]])
    delta = np.linalg.solve(hessian, gradient)
    slope, bias = slope - delta[0], bias - delta[1]
    if np.abs(delta).max() < 1e-10:
      break
  return float(slope / std), float(bias - slope * mean / std)
