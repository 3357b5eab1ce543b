"""Unit tests of the quality benchmark's baselines and bookkeeping on tiny frames."""
import numpy as np
import pandas as pd
import pytest

from recfusion.bench import quality

CATALOG = pd.DataFrame({'item_id': ['a', 'b', 'c'],
                        'title': ['red running shoe', 'blue kettle', 'red kettle']})


def _frame():
  return pd.DataFrame({
      'request_id': ['r1', 'r1', 'r1', 'r2', 'r2'],
      'item_id': ['a', 'b', 'c', 'b', 'c'],
      'query': ['red shoe', 'red shoe', 'red shoe', '', ''],
      'request_type': ['search', 'search', 'search', 'recommend', 'recommend'],
      'gain': [1.0, 0.0, 0.0, 0.0, 2.0]})


def test_popularity_counts_engaged_training_examples():
  train = pd.DataFrame({'item_id': ['a', 'a', 'b', 'c'], 'gain': [1.0, 2.0, 0.0, 1.0]})
  assert quality.popularity_scores(train, _frame()).tolist() == [2, 0, 1, 0, 1]


def test_bm25_scores_search_requests_only_and_prefers_matching_titles():
  scores = quality.bm25_scores(CATALOG, _frame())
  assert scores[0] > scores[2] > scores[1] >= 0
  assert scores[3] == scores[4] == 0


def test_oracle_ranks_unlogged_candidates_last():
  truth = pd.DataFrame({'request_id': ['r1', 'r1'], 'item_id': ['a', 'b'],
                        'utility': [2.0, 1.0]})
  scores = quality.oracle_scores(truth, _frame())
  assert scores[0] == 2.0 and scores[1] == 1.0 and scores[2] < -1e8


def test_ndcg_by_request_type():
  frame = _frame()
  perfect = frame['gain'].values
  assert quality.ndcg_by_type(frame, perfect) == {'overall': 1.0, 'search': 1.0,
                                                  'recommend': 1.0}


def test_align_reorders_raw_rows_to_the_transformed_order():
  raw = _frame()
  vocabulary = ['c', 'b', 'a']  # Transform's vocabulary: ids are position + 1
  aligned = quality.align(raw, np.array([b'r2', b'r1', b'r2']), np.array([1, 3, 2]), vocabulary)
  assert aligned['item_id'].tolist() == ['c', 'a', 'b']
  assert aligned['gain'].tolist() == [2.0, 1.0, 0.0]
  with pytest.raises(RuntimeError, match='do not match'):
    quality.align(raw, np.array([b'r9']), np.array([1]), vocabulary)
