"""The settings a run can change without a new pipeline: Kubeflow runtime parameters.

A compiled pipeline fixes its whole config; these few are what operators change between runs
(where the data is, how many spans, how long the rankers train, how strict the gate is), so on
Kubeflow each is a pipeline parameter (`recfusion submit --param NAME=VALUE`) whose default is
the config's value. Locally the same components get the plain values, so both runners go
through the same code.
"""
import re
from typing import Any, Dict, Mapping

from recfusion.config import Config

DATA_DIR = 'data_dir'
WINDOW_SPANS = 'window_spans'
NDCG10_FLOOR = 'ndcg10_floor'
TOLERANCE = 'tolerance'
# 1: run even when data, config and code are the production model's (Kubeflow's InputsCheck).
FORCE = 'force'
EPOCHS_SUFFIX = '_epochs'

_DESCRIPTIONS = {
    DATA_DIR: 'data folder as the cluster sees it (gs://, s3:// or a mounted path)',
    WINDOW_SPANS: 'how many of the newest spans to train on',
    NDCG10_FLOOR: 'the gate: lowest NDCG@10 a model may push with',
    TOLERANCE: 'the gate: how far below production NDCG@10 may fall',
    FORCE: '1: retrain even when data, config and code are those of the production model',
}


def _allowed_range(name: str):
  """(lowest, highest) a value may take; the config's own ranges, checked before submitting."""
  if name in (NDCG10_FLOOR, TOLERANCE):
    return 0.0, 1.0
  if name == FORCE:
    return 0, 1
  if name == WINDOW_SPANS or name.endswith(EPOCHS_SUFFIX):
    return 1, None
  return None, None


def epochs_parameter(ranker: str) -> str:
  """`text_epochs`: KFP parameter names are identifiers."""
  return re.sub(r'\W', '_', ranker) + EPOCHS_SUFFIX


def values(config: Config, data_dir: str) -> Dict[str, Any]:
  """Every parameter and its value from the config."""
  result: Dict[str, Any] = {
      DATA_DIR: data_dir, WINDOW_SPANS: int(config.data.window_spans),
      NDCG10_FLOOR: float(config.evaluation.ndcg10_floor),
      TOLERANCE: float(config.evaluation.tolerance), FORCE: 0}
  for name, hparams in config.trainers.items():
    if 'epochs' in hparams:  # a forest has trees, not epochs
      result[epochs_parameter(name)] = int(hparams['epochs'])
  return result


def runtime(config: Config, data_dir: str) -> Dict[str, Any]:
  """The same parameters as KFP runtime parameters, defaulting to the config's values."""
  from tfx.orchestration import data_types
  return {name: data_types.RuntimeParameter(
              name=name, ptype=type(value), default=value,
              description=_DESCRIPTIONS.get(name, 'training epochs of this ranker'))
          for name, value in values(config, data_dir).items()}


def typed_arguments(declared: Mapping[str, str], given: Mapping[str, str]) -> Dict[str, Any]:
  """`--param NAME=VALUE` strings typed as the compiled pipeline declares them.

  `declared`: parameter name -> KFP parameterType (STRING, NUMBER_INTEGER, NUMBER_DOUBLE).
  ValueError naming the parameter for an unknown name or a value of the wrong type.
  """
  typed: Dict[str, Any] = {}
  for name, text in given.items():
    if name not in declared:
      raise ValueError(f'--param {name}: the compiled pipeline has no such parameter '
                       f'(it has: {", ".join(sorted(declared))})')
    kind = declared[name]
    try:
      if kind == 'NUMBER_INTEGER':
        typed[name] = int(text)
      elif kind == 'NUMBER_DOUBLE':
        typed[name] = float(text)
      else:
        typed[name] = text
    except ValueError:
      raise ValueError(f'--param {name}={text}: expected '
                       f'{"a whole number" if kind == "NUMBER_INTEGER" else "a number"}'
                       ) from None
    lowest, highest = _allowed_range(name)
    if (lowest is not None and typed[name] < lowest) or (
        highest is not None and typed[name] > highest):
      bounds = f'at least {lowest}' if highest is None else f'between {lowest} and {highest}'
      raise ValueError(f'--param {name}={text}: must be {bounds}')
  return typed
