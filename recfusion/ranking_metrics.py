"""Ranking metrics over flat arrays grouped by request, in numpy (Fusion, reports, benchmarks).

NDCG uses the graded gain as is (DCG = sum gain_i / log2(rank_i + 1)), like TFMA's NDCG with a
gain_key, so numbers here and in the Evaluator mean the same thing. Requests whose candidates all
have gain 0 have no ideal ordering and are left out of the mean.

Tied scores share their ranks: each rank of a tie gets the tie's mean gain (the expected DCG over
every order of the tie). Breaking ties by input order instead would leak the order the logs were
written in, which follows the logged position, into scores with many ties (popularity counts,
BM25, a single overlap feature) and reward them for the position bias of the clicks.
"""
from typing import Dict

import numpy as np


def _groups(request_ids: np.ndarray):
  order = np.argsort(request_ids, kind='stable')
  sorted_ids = request_ids[order]
  boundaries = np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1
  return np.split(order, boundaries)


def _tie_averaged_ranking(gain: np.ndarray, scores: np.ndarray) -> np.ndarray:
  """Gains in score order, each replaced by the mean gain of its group of tied scores."""
  order = np.argsort(-scores, kind='stable')
  sorted_scores, sorted_gain = scores[order], gain[order]
  tie_group = np.concatenate([[0], np.cumsum(sorted_scores[1:] != sorted_scores[:-1])])
  mean_gain = np.bincount(tie_group, weights=sorted_gain) / np.bincount(tie_group)
  return mean_gain[tie_group]


def ndcg_at_k(request_ids: np.ndarray, gains: np.ndarray, scores: np.ndarray, k: int) -> float:
  values = []
  discounts = 1.0 / np.log2(np.arange(2, k + 2))
  for index in _groups(np.asarray(request_ids)):
    gain = np.asarray(gains, dtype=float)[index]
    if not (gain > 0).any():
      continue
    ranked = _tie_averaged_ranking(gain, np.asarray(scores, dtype=float)[index])[:k]
    ideal = np.sort(gain)[::-1][:k]
    values.append((ranked * discounts[:len(ranked)]).sum() /
                  (ideal * discounts[:len(ideal)]).sum())
  return float(np.mean(values)) if values else 0.0


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """ROC AUC of binary labels (ties count one half)."""
  labels = np.asarray(labels).astype(bool)
  positives, negatives = labels.sum(), (~labels).sum()
  if positives == 0 or negatives == 0:
    return float('nan')
  order = np.argsort(scores, kind='stable')
  ranks = np.empty(len(scores))
  sorted_scores = np.asarray(scores)[order]
  # Average ranks over ties.
  _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
  average = first + (counts - 1) / 2.0 + 1
  ranks[order] = np.repeat(average, counts)
  return float((ranks[labels].sum() - positives * (positives + 1) / 2) /
               (positives * negatives))


def headline(request_ids, gains, scores) -> Dict[str, float]:
  return {'ndcg@10': ndcg_at_k(request_ids, gains, scores, 10),
          'auc': auc(np.asarray(gains) > 0, scores)}
