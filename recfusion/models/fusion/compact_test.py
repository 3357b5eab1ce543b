"""Which members the compact export leaves out, and what it records."""
import pytest

from recfusion.models.fusion import compact


@pytest.mark.parametrize('prune_below, expected', [
    (None, {}),  # off
    (0.0, {'sequence': 0.0, 'text': 0.0}),  # only members the fusion does not use
    (0.1, {'gbt': 0.1, 'sequence': 0.0, 'text': 0.0}),  # at most the threshold, inclusive
    (0.95, {'gbt': 0.1, 'sequence': 0.0, 'text': 0.0}),  # never the heaviest
])
def test_pruned_members(prune_below, expected):
  weights = {'text': 0.0, 'dcn': 0.9, 'sequence': 0.0, 'gbt': 0.1}
  assert compact.pruned_members(weights, prune_below) == expected


def test_negative_weights_count_by_size_and_a_single_member_is_never_pruned():
  assert compact.pruned_members({'a': -0.5, 'b': 0.2}, 0.3) == {'b': 0.2}
  assert compact.pruned_members({'a': 0.0}, 0.5) == {}
  # Equal weights: one stays, by name.
  assert compact.pruned_members({'a': 0.0, 'b': 0.0}, 0.0) == {'b': 0.0}


def test_describe_names_the_folder_only_when_something_was_pruned():
  weights = {'text': 0.0, 'dcn': 1.0}
  assert compact.describe(0.0, weights, {'text': 0.0}) == {
      'prune_below': 0.0, 'pruned': {'text': 0.0}, 'kept': ['dcn'],
      'path': compact.COMPACT_DIR}
  assert 'path' not in compact.describe(0.0, {'dcn': 0.5, 'text': 0.5}, {})
