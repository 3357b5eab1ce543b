"""Putting scores on known scales: standardization before fusion, Platt calibration after.

Each ranker's score is standardized with its mean and standard deviation on `validation`, so
fusion weights compare rankers on one scale; the fused score is then mapped to an engagement
probability by logistic (Platt) calibration, fitted on the same split.
"""
import dataclasses
from typing import Sequence

import numpy as np


# Not scikit-learn's StandardScaler: the two numbers are baked into the fused SavedModel's graph,
# and a constant score needs std 1, not 0.
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


def fit_platt(scores: np.ndarray, engaged: np.ndarray) -> Sequence[float]:
  """Logistic calibration p = sigmoid(a * score + b) of engagement (scikit-learn's logistic
  regression, practically unpenalized).

  Fitted on standardized scores and mapped back: fused scores can have any scale (a listwise
  loss does not pin it), and the solver's tolerance is scale-dependent.
  """
  from sklearn.linear_model import LogisticRegression
  x = np.asarray(scores, dtype=float)
  y = np.asarray(engaged, dtype=bool)
  if y.all() or not y.any():
    # One class only: no slope to learn; the smoothed rate keeps the bias finite.
    return 0.0, float(np.log((y.sum() + 0.5) / ((~y).sum() + 0.5)))
  mean, std = float(x.mean()), float(x.std()) or 1.0
  model = LogisticRegression(C=1e6, tol=1e-10, max_iter=1000)
  model.fit(((x - mean) / std)[:, None], y)
  slope, bias = float(model.coef_[0, 0]), float(model.intercept_[0])
  return slope / std, bias - slope * mean / std
