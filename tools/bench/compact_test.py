"""The compact bench's arithmetic and table, on hand-made rows."""
from tools.bench import compact

FULL = {'ndcg@10': 0.75, 'size_mb': 8.0, 'latency_ms_p50': 4.0, 'latency_ms_p99': 6.0}
SMALL = {'ndcg@10': 0.749, 'size_mb': 2.0, 'latency_ms_p50': 1.0, 'latency_ms_p99': 2.0}


def test_compare_is_change_and_ratios():
  assert compact.compare(FULL, SMALL) == {'ndcg@10_change': -0.001, 'size_ratio': 0.25,
                                          'latency_p50_ratio': 0.25}


def test_markdown_has_a_row_per_threshold_and_says_when_nothing_was_pruned():
  rows = [{'method': 'auto', 'fitted': 'single', 'prune_below': 0.0, 'pruned': ['text'],
           'full': FULL, 'compact': SMALL, **compact.compare(FULL, SMALL)},
          {'method': 'weighted', 'fitted': 'weighted', 'prune_below': 0.0, 'pruned': [],
           'full': FULL}]
  lines = compact.markdown({'rows': rows}).splitlines()
  assert lines[2] == ('| auto (single) | 0 | text | 0.7500 | -0.0010 | 8.0 | 2.0 | 4.00 | 1.00 '
                      '| 0.25 |')
  assert lines[3] == '| weighted (weighted) | 0 | none | 0.7500 | - | 8.0 | - | 4.00 | - | - |'
