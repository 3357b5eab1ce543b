"""Unit tests of the numpy ranking metrics with hand-computed answers."""
import math

import numpy as np
import pytest

from recfusion import ranking_metrics as rm


def test_ndcg_perfect_and_reversed_order():
  ids = np.array(['a', 'a', 'a'])
  gains = np.array([3.0, 1.0, 0.0])
  assert rm.ndcg_at_k(ids, gains, np.array([3.0, 2.0, 1.0]), 10) == 1.0
  reversed_dcg = 0 / 1 + 1 / math.log2(3) + 3 / math.log2(4)
  ideal = 3 / 1 + 1 / math.log2(3)
  assert rm.ndcg_at_k(ids, gains, np.array([1.0, 2.0, 3.0]), 10) == pytest.approx(
      reversed_dcg / ideal)


def test_ndcg_cuts_at_k_and_skips_requests_without_gain():
  ids = np.array(['a', 'a', 'b', 'b'])
  gains = np.array([0.0, 1.0, 0.0, 0.0])
  # Request a: the relevant item is ranked 2nd and k=1 cuts it off; request b has no gain.
  assert rm.ndcg_at_k(ids, gains, np.array([2.0, 1.0, 5.0, 4.0]), 1) == 0.0
  assert rm.ndcg_at_k(ids, gains, np.array([1.0, 2.0, 5.0, 4.0]), 1) == 1.0


def test_ndcg_averages_tied_scores_instead_of_trusting_input_order():
  ids = np.array(['a', 'a', 'a'])
  gains = np.array([2.0, 0.0, 0.0])
  tied = np.array([1.0, 1.0, 1.0])
  # Every rank of the tie holds the mean gain 2/3, whichever item came first in the input.
  expected = (2 / 3) * (1 + 1 / math.log2(3) + 1 / math.log2(4)) / 2
  assert rm.ndcg_at_k(ids, gains, tied, 10) == pytest.approx(expected)
  assert rm.ndcg_at_k(ids, gains[::-1], tied, 10) == pytest.approx(expected)
  # A tie below a clear winner does not touch the winner's rank.
  assert rm.ndcg_at_k(ids, gains, np.array([5.0, 1.0, 1.0]), 10) == 1.0


def test_auc_counts_pairs_and_ties_as_half():
  assert rm.auc(np.array([0, 1]), np.array([0.1, 0.9])) == 1.0
  assert rm.auc(np.array([0, 1]), np.array([0.9, 0.1])) == 0.0
  assert rm.auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.1, 0.9])) == 0.875
  assert math.isnan(rm.auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_request_auc_compares_candidates_of_the_same_request_only():
  # Five small requests scored low, one large request scored high, every request ranked
  # perfectly: the global AUC (1/3) punishes the offset between requests, which ranking within
  # a request never sees.
  requests = np.array([f'a{i}' for i in range(5) for _ in range(2)] + ['b'] * 21)
  engaged = np.array([1, 0] * 5 + [1] + [0] * 20)
  scores = np.array([1.0, 0.9] * 5 + [3.0] + list(np.linspace(2.0, 2.9, 20)))
  assert rm.auc(engaged, scores) == pytest.approx(50 / 150)
  assert rm.request_auc(requests, engaged, scores) == 1.0
  # 3 pairs in a (1 engaged × 3 others): 2 correct, 1 tie; 1 pair in b, wrong.
  requests = np.array(['a', 'a', 'a', 'a', 'b', 'b'])
  engaged = np.array([1, 0, 0, 0, 0, 1])
  scores = np.array([0.5, 0.1, 0.5, 0.2, 1.0, 0.0])
  assert rm.request_auc(requests, engaged, scores) == (2 + 0.5 + 0) / 4


def test_request_auc_without_a_mixed_request_is_nan():
  assert math.isnan(rm.request_auc(np.array(['a', 'b']), np.array([1, 0]), np.array([1., 0.])))
  assert math.isnan(rm.request_auc(np.array([]), np.array([]), np.array([])))


def test_ndcg_of_many_score_vectors_equals_one_call_each():
  rng = np.random.default_rng(0)
  request_ids = np.repeat([f'r{i}' for i in range(30)], 7)
  gains = (rng.random(len(request_ids)) < 0.3) * rng.integers(1, 4, len(request_ids))
  gains[:7] = 0  # a request without gain: left out of the mean, as in one call
  # Rounded, so candidates tie within a request and the tie averaging is exercised; more
  # rows than a chunk, so chunks are joined.
  scores = np.round(rng.normal(size=(300, len(request_ids))), 1)
  ndcg = rm.NDCG(request_ids, gains, 5)
  assert ndcg.many(scores, chunk=128).tolist() == [ndcg(row) for row in scores]
  nothing = rm.NDCG(request_ids, np.zeros(len(request_ids)), 5)
  assert nothing.many(scores[:3]).tolist() == [0.0, 0.0, 0.0]


def test_many_of_builds_the_scores_a_chunk_at_a_time_with_the_same_result(monkeypatch):
  rng = np.random.default_rng(3)
  request_ids = np.repeat(np.arange(12), 5)
  gains = (rng.random(60) < 0.4) * rng.integers(1, 4, 60)
  matrix = np.round(rng.normal(size=(60, 3)), 1)
  grid = [rng.random(3) for _ in range(10)]
  ndcg = rm.NDCG(request_ids, gains, 5)
  stacked = ndcg.many(np.stack([matrix @ w for w in grid])).tolist()
  # Chunks of 4 score vectors (4 x 60 cells): 4 + 4 + 2, never the whole grid at once.
  monkeypatch.setattr(rm, 'CHUNK_CELLS', 4 * 60)
  chunk_rows = []
  many = ndcg.many
  monkeypatch.setattr(ndcg, 'many', lambda scores: chunk_rows.append(len(scores)) or many(scores))
  assert ndcg.many_of(grid, lambda w: matrix @ w).tolist() == stacked
  assert chunk_rows == [4, 4, 2]
  assert ndcg.many_of([], lambda w: matrix @ w).tolist() == []


def test_many_sorts_request_by_request_with_the_same_result_as_one_call_each():
  rng = np.random.default_rng(1)
  # Requests of 1 to 9 candidates, interleaved as in a log, with ties and an infinite score.
  request_ids = rng.permutation(np.repeat(np.arange(40), rng.integers(1, 10, 40)))
  gains = (rng.random(len(request_ids)) < 0.3) * rng.integers(1, 4, len(request_ids))
  scores = np.round(rng.normal(size=(20, len(request_ids))), 1)
  scores[3, :5] = -np.inf
  ndcg = rm.NDCG(request_ids, gains, 5)
  assert ndcg._table is not None  # the per-request path is the one under test
  one_call_each = [ndcg(row) for row in scores]
  assert ndcg.many(scores).tolist() == one_call_each
  assert ndcg.many(scores, chunk=3).tolist() == one_call_each
  # A NaN score takes the global sort, as one call does.
  scores[5, 2] = np.nan
  assert ndcg.many(scores[5:6]).tolist() == [ndcg(scores[5])]


def test_one_huge_request_makes_many_sort_globally():
  # 200 requests of 1 candidate and one of 900: a padded table would be 200x larger than n.
  request_ids = np.r_[np.arange(200), np.full(900, 999)]
  gains = np.r_[np.ones(200), np.arange(900) % 3]
  ndcg = rm.NDCG(request_ids, gains, 10)
  assert ndcg._table is None
  scores = np.random.default_rng(2).normal(size=(4, len(request_ids)))
  assert ndcg.many(scores).tolist() == [ndcg(row) for row in scores]
