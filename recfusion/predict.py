"""Scoring raw requests with a pushed model (`recfusion predict`).

Input: JSON lines, one request each:
  {"request_id": "r1", "user_id": "u7", "query": "trail boot",
   "history": ["item-00012", ...],               # optional: recent engaged items, newest first
   "candidates": ["item-00003", {"item_id": "x9", "title": "...", "category": "...",
                                 "brand": "...", "price": 12.5}, ...]}
A candidate given by id is looked up in the catalog of `--data`; one given as an object
carries its own item fields. Output: one JSON line per request with the candidates ranked by
the model's score, each with every score the model returns (fused and per ranker).
"""
import json
import math
import os
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from recfusion.data.contract import DataContractError

_PUSHED_BY_DEFAULT = 'latest'


def resolve_model(model: str, registry_dir: str) -> str:
  """A SavedModel folder, a registry version number, or 'latest'."""
  from recfusion import registry
  if os.path.isdir(model):
    path = model
    serving = os.path.join(model, 'Format-Serving')
    if os.path.isdir(serving):
      path = serving
  elif model == _PUSHED_BY_DEFAULT or model.isdigit():
    record = (registry.latest(registry_dir) if model == _PUSHED_BY_DEFAULT
              else registry.find(registry_dir, int(model)))
    if record is None:
      raise DataContractError(f'{registry_dir}: no pushed model {model!r} in the registry')
    path = record.path
  else:
    raise DataContractError(f'--model {model!r} is neither a folder nor a registry version')
  if not os.path.exists(os.path.join(path, 'saved_model.pb')):
    raise DataContractError(f'{path}: not a SavedModel (no saved_model.pb)')
  return path


def _refuse_constant(name: str):
  raise ValueError(f'{name} is not a number JSON allows')


def read_requests(path: str) -> Iterator[Tuple[int, Dict[str, Any]]]:
  with open(path, 'rb') as f:
    for line_number, raw in enumerate(f, start=1):
      try:
        line = raw.decode('utf-8')
      except UnicodeDecodeError as e:
        raise DataContractError(f'{path}, line {line_number}: not UTF-8 text (byte '
                                f'{e.start + 1} of the line); save the file as UTF-8') from e
      if not line.strip():
        continue
      try:
        request = json.loads(line, parse_constant=_refuse_constant)
      except json.JSONDecodeError as e:
        raise DataContractError(f'{path}, line {line_number}: not valid JSON ({e.msg})') from e
      except ValueError as e:  # NaN, Infinity
        raise DataContractError(f'{path}, line {line_number}: {e}') from e
      if not isinstance(request, dict) or not isinstance(request.get('candidates'), list) \
          or not request['candidates']:
        raise DataContractError(f'{path}, line {line_number}: a request is an object with a '
                                'non-empty "candidates" list')
      history = request.get('history', [])
      if not isinstance(history, list) or not all(isinstance(i, (str, int)) for i in history):
        raise DataContractError(f'{path}, line {line_number}: "history" is a list of item ids')
      yield line_number, request


def _catalog_item(candidate: Any, catalog: Mapping[str, Any], where: str):
  from recfusion.data import join
  if isinstance(candidate, dict):
    if 'item_id' not in candidate:
      raise DataContractError(f'{where}: a candidate object needs "item_id"')
    price = candidate.get('price', 0.0)
    if isinstance(price, bool) or not isinstance(price, (int, float)) or \
        not math.isfinite(price) or price < 0:
      raise DataContractError(f'{where}: candidate {candidate["item_id"]!r}: price must be a '
                              f'finite number >= 0, not {price!r}')
    return str(candidate['item_id']), join.CatalogItem(
        str(candidate.get('title', '')), str(candidate.get('category', '')),
        str(candidate.get('brand', '')), float(price))
  item_id = str(candidate)
  if item_id not in catalog:
    hint = '' if catalog else ' (pass --data with a catalog, or give candidates as objects)'
    raise DataContractError(f'{where}: item {item_id!r} is not in the catalog{hint}')
  return item_id, catalog[item_id]


def build_request_examples(request: Mapping[str, Any], catalog: Mapping[str, Any],
                           segments: Mapping[str, str], where: str) -> Tuple[List[str], List]:
  """(candidate item ids, serialized tf.Examples) in the training feature layout."""
  from recfusion.data import join
  items: Dict[str, Any] = dict(catalog)
  candidates = []
  for candidate in request['candidates']:
    item_id, item = _catalog_item(candidate, catalog, where)
    items[item_id] = item
    candidates.append(join.Candidate(item_id, 0.0, -1))
  history = [str(i) for i in request.get('history', [])]
  summary = join.Request(
      request_id=str(request.get('request_id', where)), user_id=str(request.get('user_id', '')),
      query=str(request.get('query', '') or ''), timestamp=0, span=0, candidates=candidates,
      has_impressions=True)
  user_segments = dict(segments)
  if 'segment' in request:
    user_segments[summary.user_id] = str(request['segment'])
  examples = join.build_examples(summary, history, items, user_segments)
  return [c.item_id for c in candidates], [e.SerializeToString() for e in examples]


def rank(model_path: str, requests: Iterable[Tuple[int, Mapping[str, Any]]], source: str,
         catalog: Mapping[str, Any], segments: Mapping[str, str],
         top: Optional[int] = None) -> Iterator[Dict[str, Any]]:
  """Every line is checked and turned into examples before the model loads (loading takes
  seconds to minutes; a bad line 900 should not wait for it)."""
  prepared = [(request, *build_request_examples(request, catalog, segments,
                                                f'{source}, line {line_number}'))
              for line_number, request in requests]
  import tensorflow as tf
  from recfusion.models import saved_models
  serve = saved_models.load(model_path).signatures['serving_default']
  for request, item_ids, examples in prepared:
    outputs = {k: v.numpy().reshape(-1).tolist()
               for k, v in serve(examples=tf.constant(examples)).items()}
    ranked = sorted(
        ({'item_id': item_id, **{k: round(v[i], 6) for k, v in outputs.items()}}
         for i, item_id in enumerate(item_ids)), key=lambda c: -c['score'])
    yield {'request_id': request.get('request_id'), 'ranked': ranked[:top] if top else ranked}


def rank_file(model: str, registry_dir: str, input_file: str, data_dir: Optional[str] = None,
              top: Optional[int] = None, user_id_key_source: Optional[str] = None
              ) -> Iterator[Dict[str, Any]]:
  """Every request of `input_file` ranked by `model` (see resolve_model), candidate ids
  resolved against the catalog and users of `data_dir`. A generator: the checks (model, data,
  input) raise DataContractError on the first item."""
  from recfusion.data import lookups, pseudonyms
  model_path = resolve_model(model, registry_dir)
  # With data.pseudonymize_user_ids, the models know users by pseudonym only.
  key = pseudonyms.key_from(user_id_key_source) if user_id_key_source else None
  pseudonymize = pseudonyms.column_pseudonymizer(key) if key else None
  catalog, segments = lookups.load(data_dir, pseudonymize) if data_dir else ({}, {})
  if not os.path.isfile(input_file):
    raise DataContractError(f'{input_file}: no such file')
  requests = read_requests(input_file)
  if key is not None:
    requests = ((line, {**request, 'user_id': pseudonyms.pseudonym(key, str(request['user_id']))}
                 if request.get('user_id') not in (None, '') else request)
                for line, request in requests)
  yield from rank(model_path, requests, input_file, catalog, segments, top)
