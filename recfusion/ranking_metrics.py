"""Ranking metrics over flat arrays grouped by request, in numpy (Fusion, reports, benchmarks).

NDCG uses the graded gain as is (DCG = sum gain_i / log2(rank_i + 1)), like TFMA's NDCG with a
gain_key, so numbers here and in the Evaluator mean the same thing. Requests whose candidates all
have gain 0 have no ideal ordering and are left out of the mean.

Tied scores share their ranks: each rank of a tie gets the tie's mean gain (the expected DCG over
every order of the tie). Breaking ties by input order instead would leak the order the logs were
written in, which follows the logged position, into scores with many ties (popularity counts,
BM25, a single overlap feature) and reward them for the position bias of the clicks.

Why NDCG is not scikit-learn's `ndcg_score`: that one wants a dense [requests, candidates]
matrix, and a fit scores thousands of weight vectors on the same requests (`NDCG.many` sorts
them in one pass) and needs the tie bounds (`NDCG.bounds`). AUC is scikit-learn's.
"""
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np


# `NDCG.many` sorts a padded [requests, largest request] table while it is at most this many
# times the candidates.
MAX_PADDING = 4
# Scores per chunk of `NDCG.many`: its temporaries (about ten arrays of a chunk's size) then stay
# in cache. 128 rows a chunk was as fast at 8k candidates and 4x slower at 94k (a weight grid
# of 128 vectors: 3.8 s, against 0.9 s in chunks of 8 rows).
CHUNK_CELLS = 1 << 20


class NDCG:
  """NDCG@k of many score vectors over one fixed set of requests and gains.

  Sorting the requests and computing their ideal DCG happens once, so scoring candidate after
  candidate (a weight grid, a line search, cross-fitting) costs one vectorized sort each.
  """

  def __init__(self, request_ids: np.ndarray, gains: np.ndarray, k: int):
    _, group = np.unique(np.asarray(request_ids), return_inverse=True)
    self._group = group.reshape(-1)
    self._gains = np.asarray(gains, dtype=float).reshape(-1)
    self._k = k
    num_groups = int(self._group.max()) + 1 if len(self._group) else 0
    ideal_order = np.lexsort((-self._gains, self._group))
    self._ideal = self._dcg(self._group[ideal_order], self._gains[ideal_order], num_groups)
    # Requests without any gain have no ideal ordering: left out of the mean.
    self._counted = self._ideal > 0
    self._num_groups = num_groups
    self._table = self._request_table(num_groups)

  def _request_table(self, num_groups: int):
    """Each request's candidate positions in one row, in input order, padded with the
    position n: [requests, largest request]. `many` sorts these short rows instead of all n
    candidates at once: on the 10x shop's 82,334 validation rows the fusion fit spent 89% of
    its 468 s in those global sorts, n log n and out of cache. None when one huge request
    would make the padded table much larger than n (the global sort is then cheaper)."""
    n = len(self._group)
    if not n:
      return None
    sizes = np.bincount(self._group, minlength=num_groups)
    if num_groups * int(sizes.max()) > MAX_PADDING * n:
      return None
    by_request = np.argsort(self._group, kind='stable')
    column = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    table = np.full((num_groups, int(sizes.max())), n)
    table[self._group[by_request], column] = by_request
    return table

  def _dcg(self, sorted_group: np.ndarray, sorted_gain: np.ndarray,
           num_groups: int) -> np.ndarray:
    """DCG@k per request of gains already sorted by (request, rank)."""
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_group)])
    rank = np.arange(len(sorted_group)) - np.repeat(starts, sizes)
    top = rank < self._k
    discount = 1.0 / np.log2(rank[top] + 2.0)
    return np.bincount(sorted_group[top], weights=sorted_gain[top] * discount,
                       minlength=num_groups)

  def __call__(self, scores: np.ndarray) -> float:
    if not self._counted.any():
      return 0.0
    scores = np.asarray(scores, dtype=float).reshape(-1)
    order = np.lexsort((-scores, self._group))
    sorted_group, sorted_scores = self._group[order], scores[order]
    # Tied scores within a request share the mean gain of their tie.
    new_tie = np.r_[True, (sorted_group[1:] != sorted_group[:-1]) |
                    (sorted_scores[1:] != sorted_scores[:-1])]
    tie = np.cumsum(new_tie) - 1
    tie_gain = np.bincount(tie, weights=self._gains[order]) / np.bincount(tie)
    dcg = self._dcg(sorted_group, tie_gain[tie], self._num_groups)
    return float(np.mean(dcg[self._counted] / self._ideal[self._counted]))

  def many(self, scores: np.ndarray, chunk: Optional[int] = None) -> np.ndarray:
    """NDCG@k of each row of `scores` ([candidates, examples]), as `__call__` gives it: one
    vectorized sort for a chunk of rows (a weight grid) instead of one call each. A chunk
    holds about CHUNK_CELLS scores unless `chunk` (rows) says otherwise."""
    scores = np.asarray(scores, dtype=float)
    if not self._counted.any():
      return np.zeros(len(scores))
    chunk = chunk or max(1, CHUNK_CELLS // max(1, scores.shape[1]))
    return np.concatenate([self._many(scores[start:start + chunk])
                           for start in range(0, len(scores), chunk)] or [np.zeros(0)])

  def many_of(self, candidates: Sequence[Any], score: Callable[[Any], np.ndarray]) -> np.ndarray:
    """NDCG@k of `score(candidate)` for each candidate, as `many` gives it for their stacked
    scores, with only one chunk's scores in memory at a time. A 4-ranker weight grid is 1,771
    vectors: stacked whole on the 10x shop's validation split that was 1.9 GB for a moment, each
    time the fusion fit tried the grid."""
    chunk = max(1, CHUNK_CELLS // max(1, len(self._group)))
    return np.concatenate([self.many(np.stack([score(c) for c in candidates[start:start + chunk]]))
                           for start in range(0, len(candidates), chunk)] or [np.zeros(0)])

  def _order(self, scores: np.ndarray) -> np.ndarray:
    """Per row of `scores`, the positions in (request, score descending, position) order,
    as __call__'s lexsort."""
    rows, n = scores.shape
    if self._table is None or np.isnan(scores).any():
      by_score = np.argsort(-scores, axis=1, kind='stable')
      return np.take_along_axis(
          by_score, np.argsort(self._group[by_score], axis=1, kind='stable'), axis=1)
    negated = np.empty((rows, n + 1))
    negated[:, :n] = -scores
    negated[:, n] = np.inf  # the padding sorts after every candidate of its request
    within = np.argsort(negated[:, self._table], axis=2, kind='stable')
    table = np.broadcast_to(self._table, within.shape)
    ordered = np.take_along_axis(table, within, axis=2).reshape(rows, -1)
    return ordered[:, self._table.reshape(-1) < n]

  def _many(self, scores: np.ndarray) -> np.ndarray:
    rows, n = scores.shape
    order = self._order(scores)
    sorted_group = self._group[order[0]]  # the same in every row: requests in order
    sorted_scores = np.take_along_axis(scores, order, axis=1)
    new_tie = np.ones((rows, n), dtype=bool)
    new_tie[:, 1:] = ((sorted_group[1:] != sorted_group[:-1])[None, :] |
                      (sorted_scores[:, 1:] != sorted_scores[:, :-1]))
    # Tie ids run on across rows (each row's first element starts a tie), so one bincount
    # averages every row's ties.
    tie = np.cumsum(new_tie.ravel()) - 1
    tie_gain = (np.bincount(tie, weights=self._gains[order].ravel()) / np.bincount(tie))[tie]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    top = rank < self._k
    discount = 1.0 / np.log2(rank[top] + 2.0)
    slots = (sorted_group[top][None, :] + self._num_groups * np.arange(rows)[:, None]).ravel()
    dcg = np.bincount(slots, weights=(tie_gain.reshape(rows, n)[:, top] * discount).ravel(),
                      minlength=rows * self._num_groups).reshape(rows, self._num_groups)
    # Row by row, so each mean adds up in __call__'s order (the same float to the last bit).
    return np.array([np.mean(row) for row in dcg[:, self._counted] / self._ideal[self._counted]])

  def bounds(self, scores: np.ndarray, tie_tolerance: float = 0.0) -> Tuple[float, float]:
    """The lowest and highest NDCG@k over every order of tied scores: what an evaluator that
    breaks ties its own way (TFMA sorts with numpy's unstable argsort) can report. A score
    within `tie_tolerance` of the next lower one of its request counts as tied with it
    (relative to the score's magnitude above 1, absolute below)."""
    if not self._counted.any():
      return 0.0, 0.0
    scores = np.asarray(scores, dtype=float).reshape(-1)
    order = np.lexsort((-scores, self._group))
    sorted_group, sorted_scores = self._group[order], scores[order]
    gap = sorted_scores[:-1] - sorted_scores[1:]
    close = gap <= tie_tolerance * np.maximum(1.0, np.abs(sorted_scores[1:]))
    tie = np.cumsum(np.r_[True, (sorted_group[1:] != sorted_group[:-1]) | ~close])
    sorted_gains = self._gains[order]
    low_high = []
    for direction in (1.0, -1.0):  # worst order puts a tie's low gains first, best its high
      within = np.lexsort((direction * sorted_gains, tie))
      dcg = self._dcg(sorted_group[within], sorted_gains[within], self._num_groups)
      low_high.append(float(np.mean(dcg[self._counted] / self._ideal[self._counted])))
    return low_high[0], low_high[1]


def ndcg_at_k(request_ids: np.ndarray, gains: np.ndarray, scores: np.ndarray, k: int) -> float:
  return NDCG(request_ids, gains, k)(scores)


def auc(labels: np.ndarray, scores: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
  """ROC AUC of binary labels (ties count one half), optionally weighted; NaN when only one
  class has weight."""
  from sklearn.metrics import roc_auc_score  # a second of import the listing commands skip
  labels = np.asarray(labels).astype(bool)
  weights = np.ones(labels.shape) if weights is None else np.asarray(weights, np.float64)
  if weights[labels].sum() <= 0 or weights[~labels].sum() <= 0:
    return float('nan')
  return float(roc_auc_score(labels, scores, sample_weight=weights))


def headline(request_ids, gains, scores) -> Dict[str, float]:
  return {'ndcg@10': ndcg_at_k(request_ids, gains, scores, 10),
          'auc': auc(np.asarray(gains) > 0, scores)}


def request_auc(request_ids: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
  """AUC within requests: of all (engaged, not engaged) pairs of candidates of the same request,
  the share the scores order correctly (ties count one half); NaN without such a pair.

  What a ranker is for: a score with request-level offsets (search scored higher than
  recommendations, say) can have a global AUC below 0.5 and still rank every request well.
  """
  _, group = np.unique(np.asarray(request_ids), return_inverse=True)
  group = group.reshape(-1)
  labels = np.asarray(labels).astype(bool).reshape(-1)
  scores = np.asarray(scores, dtype=float).reshape(-1)
  if not len(group):
    return float('nan')
  order = np.lexsort((scores, group))
  sorted_group, sorted_scores, positive = group[order], scores[order], labels[order]
  new_group = np.r_[True, sorted_group[1:] != sorted_group[:-1]]
  starts = np.flatnonzero(new_group)
  rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)])) + 1.0
  # Tied scores within a request share their mean rank.
  tie = np.cumsum(new_group | np.r_[True, sorted_scores[1:] != sorted_scores[:-1]]) - 1
  rank = (np.bincount(tie, weights=rank) / np.bincount(tie))[tie]
  groups = int(sorted_group.max()) + 1
  positives = np.bincount(sorted_group, weights=positive, minlength=groups)
  negatives = np.bincount(sorted_group, weights=~positive, minlength=groups)
  pairs = positives * negatives
  if pairs.sum() == 0:
    return float('nan')
  correct = (np.bincount(sorted_group[positive], weights=rank[positive], minlength=groups)
             - positives * (positives + 1) / 2)
  return float(correct.sum() / pairs.sum())
