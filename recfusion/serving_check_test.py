"""Unit tests of the serving smoke test's comparisons (the fresh process: registry_pusher's)."""
import math

import numpy as np
import pytest

from recfusion import serving_check
from recfusion.ranking_metrics import NDCG

RANK_2 = 1 / math.log2(3)  # DCG of a gain of 1 at rank 2


def test_ndcg_bounds_span_every_order_of_a_tie():
  ndcg = NDCG(np.array(['a', 'a', 'a']), np.array([1.0, 0.0, 0.0]), 10)
  tied = np.array([1.0, 1.0, 0.0])
  assert ndcg.bounds(tied) == pytest.approx((RANK_2, 1.0))
  # The shared-rank value the rest of recfusion reports lies between them.
  assert ndcg(tied) == pytest.approx((1 + RANK_2) / 2)
  assert ndcg.bounds(np.array([2.0, 1.0, 0.0])) == (1.0, 1.0)
  assert ndcg.bounds(np.array([1.0, 2.0, 0.0])) == pytest.approx((RANK_2, RANK_2))


def test_ndcg_bounds_treat_scores_within_the_tolerance_as_tied():
  ndcg = NDCG(np.array(['a', 'a', 'a']), np.array([0.0, 1.0, 0.0]), 10)
  near = np.array([1.0, 1.0 - 1e-7, 0.0])
  assert ndcg.bounds(near) == pytest.approx((RANK_2, RANK_2))
  assert ndcg.bounds(near, tie_tolerance=1e-5) == pytest.approx((RANK_2, 1.0))
  # Relative above 1: 1000 and 1000.001 are within 1e-5 of each other.
  assert ndcg.bounds(np.array([1000.0, 1000.001, 0.0]), 1e-5) == pytest.approx((RANK_2, 1.0))


def test_ndcg_bounds_never_join_candidates_of_different_requests():
  ndcg = NDCG(np.array(['a', 'a', 'b', 'b', 'c']), np.array([0.0, 1.0, 1.0, 0.0, 0.0]), 10)
  # a: its engaged candidate second; b: first; c has no gain and is left out of the mean.
  scores = np.array([1.0, 0.5, 0.5, 0.2, 0.5])
  assert ndcg.bounds(scores, 1e-5) == pytest.approx(((RANK_2 + 1) / 2, (RANK_2 + 1) / 2))


def test_non_finite_names_each_output_and_its_count():
  outputs = {'score': np.array([0.1, np.nan, np.inf]), 'probability': np.array([0.5, 0.5, 0.5]),
             'bm25': np.array([-np.inf, 1.0, 1.0])}
  assert serving_check.non_finite(outputs) == ['bm25: 1 of 3 scores are not finite',
                                               'score: 2 of 3 scores are not finite']


def test_compare_passes_within_the_ties_and_fails_outside_them():
  ids, gains = np.array(['a', 'a', 'a']), np.array([1.0, 0.0, 0.0])
  outputs = {'score': np.array([1.0, 1.0, 0.0]), 'text': np.array([0.0, 1.0, 2.0])}
  text = 1 / math.log2(4)  # its engaged candidate last of three
  checks = serving_check.compare(ids, gains, outputs,
                                 {'score': 0.7, 'text': text + 0.01, 'dcn': 0.5})
  by_name = {check.output: check for check in checks}
  assert [c.output for c in checks] == ['dcn', 'score', 'text']
  assert by_name['score'].passed  # TFMA may put either tied candidate first
  assert not by_name['text'].passed
  assert str(by_name['text']) == f'text: served NDCG@10 {text:.6f}, Evaluator {text + 0.01:.6f}'
  # The Evaluator scored an output the served model does not return.
  assert not by_name['dcn'].passed
  assert str(by_name['score']).startswith(f'score: served NDCG@10 {RANK_2:.6f} to 1.000000')


def test_a_split_without_eval_files_is_named(tmp_path):
  with pytest.raises(serving_check.ServingCheckError, match='no Split-eval files'):
    serving_check.eval_files(str(tmp_path))


def test_serving_cost_sums_the_model_files_and_takes_latency_percentiles(tmp_path):
  (tmp_path / 'variables').mkdir()
  (tmp_path / 'saved_model.pb').write_bytes(b'x' * 2**20)
  (tmp_path / 'variables' / 'variables.data').write_bytes(b'x' * 2**19)
  (tmp_path / 'fingerprint.pb').write_bytes(b'')  # an empty file counts 0, not an error
  latency = np.arange(1.0, 101.0)  # 1 .. 100 ms
  cost = serving_check.serving_cost(str(tmp_path), latency, np.array([10.0, 20.0]))
  assert cost == {'size_mb': 1.5, 'latency_ms_p50': 50.5, 'latency_ms_p99': 99.01,
                  'candidates_per_request': 15.0, 'timed_requests': 100}
  assert serving_check.serving_cost(str(tmp_path), np.array([]), np.array([])) == {
      'size_mb': 1.5}


def test_an_allowed_loss_accepts_a_lower_ndcg_up_to_it_and_any_higher_one():
  ids, gains = np.array(['a', 'a', 'a']), np.array([1.0, 0.0, 0.0])
  second = {'score': np.array([0.5, 1.0, 0.0])}  # engaged candidate second: 1/log2(3)
  served = 1 / math.log2(3)
  (within,) = serving_check.compare(ids, gains, second, {'score': served + 0.05},
                                    allowed_loss={'score': 0.06})
  (beyond,) = serving_check.compare(ids, gains, second, {'score': served + 0.05},
                                    allowed_loss={'score': 0.04})
  (better,) = serving_check.compare(ids, gains, second, {'score': served - 0.2},
                                    allowed_loss={'score': 0.01})
  assert within.passed and not beyond.passed and better.passed
  assert within.loss == pytest.approx(0.05) and better.loss == pytest.approx(-0.2)
  assert str(beyond).endswith('(may be up to 0.04 lower)')


def test_the_loss_is_zero_when_the_evaluators_value_is_one_order_of_the_ties():
  ids, gains = np.array(['a', 'a', 'a']), np.array([1.0, 0.0, 0.0])
  tied = {'score': np.array([1.0, 1.0, 0.0])}  # served range RANK_2 to 1
  (check,) = serving_check.compare(ids, gains, tied, {'score': 0.8})
  assert check.passed and check.loss == 0.0
