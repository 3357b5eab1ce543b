"""Unit tests of the join logic on tiny inputs with exact expectations."""
from recfusion.data import join


def _event(ts, item, event, gain, position=-1, user='u', query='', span=0):
  return (ts, user, query, item, position, gain, event, span)


def _request(request_id, ts, engaged=(), user='u', span=0):
  events = [_event(ts, item, 'click', 1.0, user=user, span=span) for item in engaged]
  events.append(_event(ts, 'shown', 'impression', 0.0, 0, user=user, span=span))
  return join.summarize_request(request_id, events)


def test_summarize_takes_max_gain_first_position_and_earliest_time():
  request = join.summarize_request('r', [
      _event(12, 'a', 'click', 1.0, 0, query='red shoe', span=3),
      _event(10, 'a', 'impression', 0.0, 0, query='red shoe', span=3),
      _event(30, 'a', 'purchase', 3.0, span=4),
      _event(10, 'b', 'impression', 0.0, 1, span=3),
  ])
  assert request.timestamp == 10 and request.span == 3
  assert request.query == 'red shoe' and request.request_type == 'search'
  assert [(c.item_id, c.gain, c.position) for c in request.candidates] == [
      ('a', 3.0, 0), ('b', 0.0, 1)]
  assert request.has_impressions


def test_request_without_query_is_a_recommendation():
  assert join.summarize_request('r', [_event(1, 'a', 'click', 1.0)]).request_type == 'recommend'


def test_history_holds_only_strictly_earlier_engagement_most_recent_first():
  requests = [_request('r3', 30, ['c']), _request('r1', 10, ['a']), _request('r2', 20, ['b']),
              _request('r4', 40)]
  histories = {r.request_id: h for r, h in join.attach_histories(requests, history_max=10)}
  assert histories == {'r1': [], 'r2': ['a'], 'r3': ['b', 'a'], 'r4': ['c', 'b', 'a']}


def test_requests_at_the_same_second_do_not_see_each_other():
  requests = [_request('r1', 10, ['a']), _request('r2', 10, ['b']), _request('r3', 11)]
  histories = {r.request_id: h for r, h in join.attach_histories(requests, history_max=10)}
  assert histories['r1'] == [] and histories['r2'] == []
  assert sorted(histories['r3']) == ['a', 'b']


def test_history_is_deduplicated_and_truncated():
  requests = [_request('r1', 1, ['a']), _request('r2', 2, ['b']), _request('r3', 3, ['a']),
              _request('r4', 4, ['c']), _request('r5', 5)]
  histories = {r.request_id: h for r, h in join.attach_histories(requests, history_max=2)}
  assert histories['r5'] == ['c', 'a']


def test_impressions_alone_add_nothing_to_history():
  requests = [_request('r1', 1), _request('r2', 2)]
  histories = {r.request_id: h for r, h in join.attach_histories(requests, history_max=5)}
  assert histories['r2'] == []


def test_negatives_come_from_the_catalog_exclude_logged_items_and_are_reproducible():
  request = join.summarize_request('r9', [_event(1, 'a', 'click', 1.0)])
  catalog = [f'i{n}' for n in range(20)] + ['a']
  first = join.sample_negatives(request, catalog, 5, seed=7)
  again = join.sample_negatives(request, catalog, 5, seed=7)
  assert [c.item_id for c in first] == [c.item_id for c in again]
  assert len({c.item_id for c in first}) == 5
  assert all(c.item_id in catalog and c.item_id != 'a' for c in first)
  assert all(c.gain == 0.0 and c.position == -1 for c in first)


def test_negatives_are_capped_by_the_catalog_size():
  request = join.summarize_request('r', [_event(1, 'a', 'click', 1.0)])
  assert len(join.sample_negatives(request, ['a', 'b', 'c'], 10, seed=1)) == 2


def test_time_boundaries_cut_the_range_by_fraction():
  cuts = join.time_boundaries(0, 99, {'train': 0.7, 'validation': 0.15, 'eval': 0.15})
  assert cuts == (70, 85)
  rule = join.SplitRule(boundaries=cuts)
  splits = [rule.split_of(_request(f'r{t}', t)) for t in (0, 69, 70, 84, 85, 99)]
  assert splits == ['train', 'train', 'validation', 'validation', 'eval', 'eval']


def test_span_rule_uses_the_request_span_and_drops_unlisted_spans():
  rule = join.SplitRule(span_to_split={1: 'train', 2: 'validation', 3: 'eval'})
  assert rule.split_of(_request('a', 5, span=2)) == 'validation'
  assert rule.split_of(_request('b', 5, span=9)) is None


def test_build_examples_one_per_candidate_with_catalog_and_history_features():
  request = join.summarize_request('r', [
      _event(5, 'a', 'impression', 0.0, 0, user='u1', query='Red shoe'),
      _event(6, 'a', 'click', 1.0, 0, user='u1', query='Red shoe')])
  catalog = {'a': join.CatalogItem('red shoe', 'shoes', 'x', 9.5),
             'h': join.CatalogItem('pan', 'kitchen', 'y', 3.0)}
  negatives = [join.Candidate('h', 0.0, -1)]
  examples = join.build_examples(request, ['h'], catalog, {'u1': 'premium'}, negatives)
  assert len(examples) == 2
  first = examples[0].features.feature
  assert first['item_id'].bytes_list.value == [b'a']
  assert first['gain'].float_list.value == [1.0]
  assert first['position'].int64_list.value == [0]
  assert first['user_segment'].bytes_list.value == [b'premium']
  assert first['history_item_ids'].bytes_list.value == [b'h']
  assert first['history_categories'].bytes_list.value == [b'kitchen']
  assert first['history_brands'].bytes_list.value == [b'y']
  assert first['history_prices'].float_list.value == [3.0]
  assert first['history_length'].int64_list.value == [1]
  assert first['request_type'].bytes_list.value == [b'search']
  assert first['history_bucket'].bytes_list.value == [b'1-2']
  assert first['engaged'].int64_list.value == [1]
  second = examples[1].features.feature
  assert second['item_id'].bytes_list.value == [b'h']
  assert second['position'].int64_list.value == [-1]
  assert second['gain'].float_list.value == [0.0]
  assert second['engaged'].int64_list.value == [0]


def test_history_buckets():
  assert [join.history_bucket(n) for n in (0, 1, 2, 3, 5, 6, 10, 11, 50)] == [
      '0', '1-2', '1-2', '3-5', '3-5', '6-10', '6-10', '11+', '11+']


def test_most_recent_unique_is_most_recent_first_and_distinct():
  assert join.most_recent_unique([1, 2, 3, 2, 4], limit=3) == [4, 2, 3]
  assert join.most_recent_unique([], 20) == []
