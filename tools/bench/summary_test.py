"""Unit test of the one table over every benchmark."""
from tools.bench import summary


def _result(**extra):
  ndcg = {'popularity': {'overall': 0.5}, 'lightgbm_lambdamart': {'overall': 0.6},
          'dcn': {'overall': 0.7}, 'fusion_auto': {'overall': 0.71}}
  ndcg.update(extra.pop('ndcg', {}))
  return {'ndcg@10': ndcg, 'best_single_model': 'dcn', 'seeds': 2,
          'data': {'examples': {'eval': 100}},
          'targets': {'auto_minus_best_single_ndcg@10': 0.01,
                      'auto_at_least_best_member_on_validation': [True, True], **extra.pop(
                          'targets', {})}, **extra}


def test_table_has_a_column_per_benchmark_and_marks_left_out_rankers():
  text = summary.table({
      'shop': _result(),
      'search': _result(ndcg={'bm25': {'search': 0.65}},
                        targets={'auto_minus_bm25_search': 0.06},
                        dropped_rankers={'sequence': 'no users'})}).splitlines()
  assert text[0] == '| model | shop | search |'
  assert '| bm25 | - | 0.6500 (search) |' in text
  assert '| sequence | - | left out |' in text
  assert '| **fusion_auto** (shipped) | 0.7100 | 0.7100 |' in text
  assert '| auto − best member (eval) | +0.0100 | +0.0100 |' in text
  assert '| auto ≥ best member on validation, every seed | True | True |' in text
  assert '| auto − LightGBM | +0.1100 | +0.1100 |' in text
  assert '| auto − BM25 (search) | - | +0.0600 |' in text
  assert not any('affinity' in line for line in text)
