"""`weighted` fusion: non-negative weights over standardized scores, fitted to NDCG@10.

Each model's score is standardized with its mean and standard deviation on `validation`, so
weights compare models on one scale; the weights, on the simplex (non-negative, sum 1), are
chosen by an exhaustive grid search that maximizes NDCG@10 on `validation` directly: with three
models the grid is small, and the ranking objective needs no differentiable surrogate.
"""
import dataclasses
import itertools
from typing import Dict, List, Sequence

import numpy as np

from recfusion import ranking_metrics


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


def simplex_grid(num_models: int, step: float) -> List[np.ndarray]:
  units = int(round(1 / step))
  return [np.array(c, dtype=float) / units
          for c in itertools.product(range(units + 1), repeat=num_models) if sum(c) == units]


def fit_weights(request_ids: np.ndarray, gains: np.ndarray,
                standardized: Dict[str, np.ndarray], step: float = 0.05) -> Dict[str, float]:
  """The grid point with the best validation NDCG@10.

  On ties the sparsest mix wins (grid visited by decreasing largest weight): it rests on the
  fewest models for the same ranking quality.
  """
  names = sorted(standardized)
  matrix = np.stack([standardized[n] for n in names], axis=1)
  best, best_ndcg = None, -1.0
  for weights in sorted(simplex_grid(len(names), step), key=lambda w: -w.max()):
    ndcg = ranking_metrics.ndcg_at_k(request_ids, gains, matrix @ weights, 10)
    if ndcg > best_ndcg + 1e-12:
      best, best_ndcg = weights, ndcg
  return {name: float(w) for name, w in zip(names, best)}


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
