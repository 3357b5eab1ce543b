"""The feature catalogue: every feature Transform gives the models, once, with its kind and tags.

Rankers pick their inputs by tag, warm start learns which vocabulary an embedding table follows,
the fusion gate reads the `context` features, and the benchmark's tree model reads the `tabular`
ones, all from here; `preprocessing.preprocessing_fn` must produce exactly these names (a test
holds it to that). Tags:
  request   known per request, the same for all its candidates (fusion context, slices)
  context   request features the fusion gate conditions on
  item      describes the candidate item
  history   the user's history as a sequence
  match     how the candidate relates to the query or the history
  tabular   the flat features of the tabular rankers (DCN, the benchmark's LightGBM)
  text      token id sequences
  lexical   how the query's words match the item's text (models/lexical.py): every ranker
            that reads the query gets them
"""
import dataclasses
from typing import Dict, FrozenSet, Optional, Tuple

# Lengths of the fixed-size id lists Transform writes.
QUERY_TOKENS = 8
TITLE_TOKENS = 12
HISTORY_ITEMS = 20


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """A Transform vocabulary file and how ids index it.

  shifted: ids 1..V are the entries, 0 is padding and V+1 unknown (lookups of padded lists);
  otherwise 0..V-1 are the entries and V is unknown (tft.compute_and_apply_vocabulary).
  """
  name: str
  shifted: bool = True

  @property
  def extra_ids(self) -> int:
    """Ids beyond the entries: padding and unknown, or unknown alone."""
    return 2 if self.shifted else 1


TOKENS = Vocabulary('tokens')
ITEMS = Vocabulary('item_id')
CATEGORIES = Vocabulary('category')
BRANDS = Vocabulary('brand')
SEGMENTS = Vocabulary('user_segment', shifted=False)
VOCABULARIES: Dict[str, Vocabulary] = {
    v.name: v for v in (TOKENS, ITEMS, CATEGORIES, BRANDS, SEGMENTS)}


@dataclasses.dataclass(frozen=True)
class Feature:
  name: str
  kind: str  # 'id' (one id), 'ids' (a fixed-length id list) or 'numeric' (one float)
  tags: FrozenSet[str]
  vocabulary: Optional[Vocabulary] = None
  length: int = 1


def _feature(name, kind, tags, vocabulary=None, length=1) -> Feature:
  return Feature(name, kind, frozenset(tags.split()), vocabulary, length)


CATALOGUE: Tuple[Feature, ...] = (
    _feature('query_tokens', 'ids', 'request text', TOKENS, QUERY_TOKENS),
    _feature('title_tokens', 'ids', 'item text', TOKENS, TITLE_TOKENS),
    _feature('item_idx', 'id', 'item tabular', ITEMS),
    _feature('category_idx', 'id', 'item tabular', CATEGORIES),
    _feature('brand_idx', 'id', 'item tabular', BRANDS),
    _feature('segment_idx', 'id', 'request tabular', SEGMENTS),
    _feature('history_item_idx', 'ids', 'request history', ITEMS, HISTORY_ITEMS),
    _feature('history_category_idx', 'ids', 'request history', CATEGORIES, HISTORY_ITEMS),
    _feature('history_brand_idx', 'ids', 'request history', BRANDS, HISTORY_ITEMS),
    _feature('price_z', 'numeric', 'item tabular'),
    _feature('price_gap', 'numeric', 'match history_match tabular'),
    _feature('history_length_01', 'numeric', 'request context history_match tabular'),
    _feature('query_length', 'numeric', 'request context tabular'),
    _feature('query_title_overlap', 'numeric', 'match tabular'),
    _feature('history_category_share', 'numeric', 'match history_match tabular'),
    _feature('history_brand_share', 'numeric', 'match history_match tabular'),
    _feature('item_in_history', 'numeric', 'match history_match tabular'),
    _feature('is_search', 'numeric', 'request context tabular'),
    _feature('bm25_title', 'numeric', 'match lexical tabular'),
    _feature('bm25_category', 'numeric', 'match lexical tabular'),
    _feature('bm25_brand', 'numeric', 'match lexical tabular'),
    _feature('query_char3_overlap', 'numeric', 'match lexical tabular'),
    _feature('query_prefix_overlap', 'numeric', 'match lexical tabular'),
    _feature('query_bigram_overlap', 'numeric', 'match lexical tabular'),
    _feature('query_number_match', 'numeric', 'match lexical tabular'),
    _feature('query_has_number', 'numeric', 'request lexical tabular'),
    _feature('query_coverage', 'numeric', 'match lexical tabular'),
)
BY_NAME: Dict[str, Feature] = {f.name: f for f in CATALOGUE}


def names(*tags: str, kind: Optional[str] = None) -> Tuple[str, ...]:
  """Names of the catalogue's features carrying every tag given (and of that kind), in order."""
  wanted = set(tags)
  return tuple(f.name for f in CATALOGUE
               if wanted <= f.tags and (kind is None or f.kind == kind))


def vocabulary_of(feature: str) -> Vocabulary:
  vocabulary = BY_NAME[feature].vocabulary
  if vocabulary is None:
    raise KeyError(f'feature {feature!r} has no vocabulary')
  return vocabulary


# Raw request features the Evaluator slices by (request-level only: an item-level slice would
# split a request's candidates).
SLICE_FEATURES = ('request_type', 'history_bucket')
