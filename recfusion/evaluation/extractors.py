"""TFMA's default extractors with its per-example stages replaced by one stage per request.

TFMA unbatches every batch into one dict per candidate, and a query key then makes its evaluator
group them again: a Beam shuffle of every candidate (each element pickled) and a merge that
rebuilds one request's arrays key by key in Python (`util.merge_extracts`, which converts each
nested level twice). On the bench's shop that per-candidate round trip was most of the
Evaluator's time. Here the batch is cut into requests directly:

1. `slim` drops what no metric reads while the extracts are still batched (one dict per batch):
   the raw bytes, the transformed features, and the features outside those the EvalConfig names
   (labels, slices) or a metric of ours reads (the request id, diversity's item, category, brand).
2. `split_by_request` cuts a batch into one extract per request, shaped exactly as TFMA's merge
   of that request's unbatched candidates (tested equal), keyed by the request id.
3. A request whose candidates fell into two batches arrives in pieces; the shuffle that joins
   them moves one element per request piece, not per candidate.

So every extract the evaluator sees is one request, and the EvalConfig sets no
`MetricsSpec.query_key` (TFMA's key-by-query would find a request's whole id array and refuse);
the ranking metrics (ndcg.py, mrr.py, ...) take each input as one request, and TFMA's
jackknife resamples requests. The TFX Evaluator looks this module up by `module_path` (its
`custom_extractors` hook): the executor sets it, the component spec does not expose it.
"""
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.utils import util

from recfusion import keys
from recfusion.evaluation import diversity, requests

SLIM_STAGE_NAME = 'DropUnreadFeatures'
REQUESTS_STAGE_NAME = 'ExtractRequests'
UNBATCH_STAGE_NAME = 'ExtractUnbatchedInputs'
REQUEST_KEY = keys.REQUEST_ID_KEY
# Features a metric reads through its own preprocessor, which the EvalConfig does not name.
METRIC_FEATURES = (REQUEST_KEY, diversity.ITEM_KEY, diversity.CATEGORY_KEY, diversity.BRAND_KEY)


def features_read(eval_config: tfma.EvalConfig,
                  metric_features: Iterable[str] = METRIC_FEATURES) -> FrozenSet[str]:
  """The features TFMA reads for `eval_config`: labels, example weights, query keys, slices,
  plus `metric_features`."""
  names = set(metric_features)
  for spec in eval_config.model_specs:
    if spec.label_key:
      names.add(spec.label_key)
    names.update(spec.label_keys.values())
    if spec.example_weight_key:
      names.add(spec.example_weight_key)
    names.update(spec.example_weight_keys.values())
  for spec in eval_config.metrics_specs:
    if spec.query_key:
      names.add(spec.query_key)
  for spec in list(eval_config.slicing_specs) + [
      s for cross in eval_config.cross_slicing_specs
      for s in [cross.baseline_spec, *cross.slicing_specs]]:
    names.update(spec.feature_keys)
    names.update(spec.feature_values.keys())
  return frozenset(names)


def slim(batched_extracts: tfma.Extracts, keep: FrozenSet[str]) -> tfma.Extracts:
  """A shallow copy of one batch's extracts without the raw inputs, the transformed features
  and the features outside `keep`."""
  result = {key: value for key, value in batched_extracts.items()
            if key not in (constants.INPUT_KEY, constants.TRANSFORMED_FEATURES_KEY)}
  features = result.get(constants.FEATURES_KEY)
  if isinstance(features, dict):
    result[constants.FEATURES_KEY] = {k: v for k, v in features.items() if k in keep}
  return result


def _dense_leaves(tree: Any, size: int) -> bool:
  """Whether every leaf of `tree` is a numpy array with one row per candidate of the batch."""
  if isinstance(tree, dict):
    return all(_dense_leaves(value, size) for value in tree.values())
  return isinstance(tree, np.ndarray) and tree.ndim >= 1 and tree.shape[0] == size


def _rows(tree: Any, rows: np.ndarray, taken: Optional[Dict[int, np.ndarray]] = None) -> Any:
  """`rows` of every leaf, a column vector flattened as TFMA's merge flattens it. A leaf that
  `tree` holds twice (the gain: a feature, and the label of the score and of each ranker) is
  taken once and held twice in the result, so that pickle writes it once when the request
  crosses the shuffle (and reads it back as one array). So nothing downstream may write into an
  extract's arrays: a label clipped in place would change the feature and every other label
  (no metric of recfusion's or TFMA's in the EvalConfig writes into its inputs)."""
  taken = {} if taken is None else taken
  if isinstance(tree, dict):
    return {key: _rows(value, rows, taken) for key, value in tree.items()}
  leaf = taken.get(id(tree))
  if leaf is None:
    leaf = tree[rows]
    leaf = taken[id(tree)] = leaf[:, 0] if leaf.ndim == 2 and leaf.shape[1] == 1 else leaf
  return leaf


def _request_ids(batched_extracts: tfma.Extracts) -> np.ndarray:
  features = batched_extracts.get(constants.FEATURES_KEY) or {}
  if REQUEST_KEY not in features:
    raise ValueError(f'the eval examples have no {REQUEST_KEY!r} feature to group candidates '
                     f'by request (features: {sorted(features)})')
  ids = features[REQUEST_KEY]
  if not isinstance(ids, np.ndarray) or ids.size != len(ids):
    raise ValueError(f'{REQUEST_KEY!r} must hold one value per example, got {ids!r}')
  return ids.reshape(-1)


def split_by_request(batched_extracts: tfma.Extracts) -> Iterator[Tuple[Any, tfma.Extracts]]:
  """(request id, the request's extracts) for each request in one batch, candidates in batch
  order: what TFMA's unbatching followed by its merge of one query would produce."""
  ids = _request_ids(batched_extracts)
  order = np.argsort(ids, kind='stable')
  request_ids, starts = np.unique(ids[order], return_index=True)
  groups = np.split(order, starts[1:])
  if _dense_leaves(batched_extracts, len(ids)):
    for request_id, rows in zip(request_ids, groups):
      yield request_id, _rows(batched_extracts, rows)
    return
  # Sparse or ragged values (none in recfusion's eval schema): TFMA's own split and merge.
  examples = util.split_extracts(batched_extracts)
  for request_id, rows in zip(request_ids, groups):
    yield request_id, util.merge_extracts([examples[i] for i in rows])


class RequestPiece:
  """One batch's share of a request's extracts, as it crosses the shuffle. Beam's coder writes
  a plain dict of arrays value by value, one pickle per array, and this as one pickle: 310 ->
  130 µs a piece written and read back, half the bytes."""
  __slots__ = ('extracts',)

  def __init__(self, extracts: tfma.Extracts):
    self.extracts = extracts

  def __reduce__(self):
    return RequestPiece, (self.extracts,)


def cut_into_pieces(batched_extracts: tfma.Extracts) -> Iterator[Tuple[Any, RequestPiece]]:
  """`split_by_request`, each request's extracts wrapped for the shuffle."""
  for request_id, extracts in split_by_request(batched_extracts):
    yield request_id, RequestPiece(extracts)


def _concatenate(pieces: List[Any]) -> Any:
  if isinstance(pieces[0], dict):
    return {key: _concatenate([piece[key] for piece in pieces]) for key in pieces[0]}
  return np.concatenate(pieces)


def join_pieces(keyed_pieces: Tuple[Any, Iterable[tfma.Extracts]]) -> tfma.Extracts:
  """One request's extracts from the pieces that batches cut it into, marked as a whole
  request for recfusion's metrics (requests.py)."""
  request_id, pieces = keyed_pieces
  pieces = [piece.extracts if isinstance(piece, RequestPiece) else piece for piece in pieces]
  if len(pieces) == 1:
    return requests.mark_whole_request(pieces[0])
  if not all(_dense_leaves(piece, len(_request_rows(piece))) for piece in pieces):
    return requests.mark_whole_request(util.merge_extracts(
        [example for piece in pieces for example in util.split_extracts(piece)]))
  try:
    return requests.mark_whole_request(_concatenate(pieces))
  except (KeyError, ValueError) as error:
    raise ValueError(f'request {request_id!r}: its candidates in different batches carry '
                     f'different values: {error}') from error


def _request_rows(extracts: tfma.Extracts) -> np.ndarray:
  return extracts[constants.FEATURES_KEY][REQUEST_KEY]


@beam.ptransform_fn
@beam.typehints.with_input_types(tfma.Extracts)
@beam.typehints.with_output_types(tfma.Extracts)
def _ExtractRequests(batches: beam.PCollection) -> beam.PCollection:  # pylint: disable=invalid-name
  return (batches
          | 'SplitByRequest' >> beam.FlatMap(cut_into_pieces)
          | 'GroupPieces' >> beam.GroupByKey()
          | 'JoinPieces' >> beam.Map(join_pieces))


def request_extractor() -> tfma.extractors.Extractor:
  return tfma.extractors.Extractor(stage_name=REQUESTS_STAGE_NAME,
                                   ptransform=_ExtractRequests())  # pylint: disable=no-value-for-parameter


def slim_extractor(keep: FrozenSet[str]) -> tfma.extractors.Extractor:
  return tfma.extractors.Extractor(stage_name=SLIM_STAGE_NAME, ptransform=beam.Map(slim, keep))


def custom_extractors(eval_shared_model=None, eval_config: Optional[tfma.EvalConfig] = None,
                      tensor_adapter_config=None) -> List[tfma.extractors.Extractor]:
  """The TFX Evaluator's hook: TFMA's default extractors with `slim` and the request stage in
  place of TFMA's unbatching."""
  with_query_key = [spec.query_key for spec in eval_config.metrics_specs if spec.query_key]
  if with_query_key:
    raise ValueError(f'the EvalConfig sets MetricsSpec.query_key ({with_query_key[0]!r}), but '
                     f'recfusion\'s extractors already hand TFMA one extract per request '
                     f'(by {REQUEST_KEY!r}); remove the query_key')
  extractors = tfma.default_extractors(eval_shared_model=eval_shared_model,
                                       eval_config=eval_config,
                                       tensor_adapter_config=tensor_adapter_config)
  stages = [extractor.stage_name for extractor in extractors]
  if UNBATCH_STAGE_NAME not in stages:
    raise ValueError(f'TFMA extractors have no {UNBATCH_STAGE_NAME} stage: {stages}')
  at = stages.index(UNBATCH_STAGE_NAME)
  return (extractors[:at] + [slim_extractor(features_read(eval_config)), request_extractor()]
          + extractors[at + 1:])
