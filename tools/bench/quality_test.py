"""Unit tests of the quality benchmark's baselines and bookkeeping on tiny frames."""
import numpy as np
import pandas as pd
import pytest

from tools.bench import quality

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


def test_mean_and_spread_over_seeds():
  tables = [{'dcn': {'overall': 0.70, 'search': 0.8}}, {'dcn': {'overall': 0.74, 'search': 0.6}}]
  row = quality.mean_and_spread(tables)['dcn']
  assert row['overall'] == pytest.approx(0.72)
  assert row['search'] == pytest.approx(0.7)
  assert row['sd_overall'] == pytest.approx(np.std([0.70, 0.74], ddof=1))


def test_a_single_seed_has_no_spread():
  assert quality.mean_and_spread([{'oracle': {'overall': 0.9}}])['oracle']['sd_overall'] is None
  assert quality.mean_and_spread([{}]) == {}


def test_markdown_shows_means_spread_and_headroom():
  result = {
      'ndcg@10': {'oracle': {'overall': 0.8, 'search': 0.9, 'recommend': 0.7, 'sd_overall': None,
                             'headroom': {'overall': 1.0}},
                  'bm25': {'search': 0.65, 'headroom': {'search': 0.25}},
                  'dcn': {'overall': 0.75, 'search': 0.8, 'recommend': 0.7,
                          'sd_overall': 0.0021, 'headroom': {'overall': 0.8}}},
      'data': {'examples': {'train': 10, 'validation': 2, 'eval': 3}},
      'best_single_model': 'dcn', 'best_fusion_method': 'gated', 'seeds': 3,
      'losses': {'dcn': 'pointwise'},
      'targets': {'auto_minus_bm25_search': 0.0123, 'auto_beats_bm25_search': True,
                  'bm25_plus_20pct_headroom_search': 0.7},
      'dropped_rankers': {'sequence': 'nothing to learn: history_item_idx the same'},
      'simulator': {'ctr_by_position': {0: 0.3}, 'share_of_requests_with_engagement': 0.5}}
  lines = quality.markdown(result).splitlines()
  assert lines[2] == '| oracle | 0.8000 | - | 0.9000 | 0.7000 | 100.0% |'
  assert lines[3] == '| bm25 | - | - | 0.6500 | - | 25.0% |'
  assert lines[4] == '| dcn | 0.7500 | 0.0021 | 0.8000 | 0.7000 | 80.0% |'
  assert 'means over 3 training seeds' in lines[6]
  assert lines[7] == 'targets: auto_minus_bm25_search +0.0123; auto_beats_bm25_search True.'
  assert lines[8] == ('left out (nothing to learn): sequence: nothing to learn: '
                      'history_item_idx the same.')


def test_benchmark_never_warm_starts_from_an_earlier_run():
  overrides = quality.bench_config_overrides(2950)
  deep = [r for r in quality.RANKERS if r != 'gbt']  # trees never warm start (gbt_test.py)
  assert deep == ['text', 'dcn', 'sequence']
  for ranker in deep:
    assert f'trainers.{ranker}.warm_start=false' in overrides
  from recfusion.config import load_config
  config = load_config(overrides=overrides)
  assert [config.trainers[r]['warm_start'] for r in deep] == [False] * 3


def test_search_targets_compare_auto_with_bm25_and_a_fifth_of_its_headroom():
  table = {'bm25': {'search': 0.80}, 'oracle': {'search': 0.90},
           'fusion_auto': {'search': 0.815}}
  targets = quality.search_targets(table)
  assert targets['auto_minus_bm25_search'] == pytest.approx(0.015)
  assert targets['auto_beats_bm25_search'] is True
  assert targets['bm25_plus_20pct_headroom_search'] == pytest.approx(0.82)
  assert targets['auto_reaches_bm25_plus_20pct_headroom'] is False
  assert quality.search_targets({'fusion_auto': {'search': 0.8}}) == {}


def test_session_targets_compare_the_sequence_ranker_with_category_affinity():
  table = {'category_affinity': {'recommend': 0.50}, 'sequence': {'recommend': 0.55},
           'fusion_auto': {'recommend': 0.60}}
  targets = quality.session_targets(table)
  assert targets['sequence_minus_category_affinity'] == pytest.approx(0.05)
  assert targets['auto_minus_category_affinity'] == pytest.approx(0.10)
  # Without users the sequence ranker is left out: nothing to compare.
  assert quality.session_targets({'category_affinity': {'recommend': 0.5}}) == {}


def test_every_profile_names_its_own_generate_settings():
  assert quality.bench_config_overrides(100, 'shop') == quality.bench_config_overrides(100)
  for profile in ('search_graded', 'sessions'):
    overrides = quality.bench_config_overrides(100, profile)
    assert f'generate.profile={profile}' in overrides
    # The profile's sizes come after the shop's defaults, so they win.
    assert overrides.index(f'generate.profile={profile}') > overrides.index(
        'generate.num_items=2000')
