"""Warm start: begin training from the weights of the ranker inside the production model.

The production model is the fused SavedModel in the registry (BaselineLookup copies it into
the Trainer's `base_model` input). Its rankers' variables are the ones their
`transformed_features` signatures capture. They are compatible with a freshly built ranker
when every variable has the same name and shape, except embedding tables, whose rows are
moved to the new vocabularies: Transform's vocabularies are ordered by frequency, so an id
means another item after each retraining window. Rows of values the production model never
saw keep their fresh initialization. Anything else is not compatible: the Trainer logs why
and trains from scratch.
"""
import json
import os
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from recfusion import features
from recfusion.models import saved_models

# Embedding tables name their vocabulary after this separator (training.embedding).
EMBEDDING_SEPARATOR = '__'


def embedding_vocabulary(layer: str) -> Optional[features.Vocabulary]:
  """The vocabulary an embedding table's rows follow, from its layer name; None for a table
  whose ids mean the same in every run (positions)."""
  _, separator, name = layer.rpartition(EMBEDDING_SEPARATOR)
  return features.VOCABULARIES.get(name) if separator else None


class Incompatible(Exception):
  """The production ranker cannot seed this one; the message says why."""


def _layer_of(variable_name: str) -> str:
  return variable_name.split('/')[0]


def _read_vocabulary(path: str) -> List[str]:
  with tf.io.gfile.GFile(path) as f:
    return [line.rstrip('\n') for line in f]


def remap_rows(old: np.ndarray, new: np.ndarray, old_vocabulary: List[str],
               new_vocabulary: List[str], shifted: bool) -> Tuple[np.ndarray, int]:
  """`new` with the rows of values both vocabularies know copied from `old`; and their count.

  Padding and unknown rows are copied too (they mean the same in both). Not tf_keras's
  `warmstart_embedding_matrix`: it knows neither the padding row that shifts every id by one
  nor the unknown row after the vocabulary, and it does not count the rows it moved.
  """
  offset = 1 if shifted else 0
  result = new.copy()
  old_ids = {value: i + offset for i, value in enumerate(old_vocabulary)}
  moved = 0
  for i, value in enumerate(new_vocabulary):
    old_id = old_ids.get(value)
    if old_id is not None and old_id < len(old):
      result[i + offset] = old[old_id]
      moved += 1
  if shifted:
    result[0] = old[0]
  old_unknown, new_unknown = len(old_vocabulary) + offset, len(new_vocabulary) + offset
  if old_unknown < len(old) and new_unknown < len(result):
    result[new_unknown] = old[old_unknown]
  return result, moved


def production_variables(base_model_dir: str, ranker: str) -> Dict[str, np.ndarray]:
  from recfusion.models.fusion import fused_model
  values = fused_model.member_variables(saved_models.load(base_model_dir), ranker)
  if values is None:
    raise Incompatible(f'the production model has no {ranker!r} ranker')
  return values


def seed_weights(variables: List[tf.Variable], old_values: Mapping[str, np.ndarray],
                 old_vocabularies: Mapping[str, List[str]],
                 new_vocabularies: Mapping[str, List[str]]) -> str:
  """Assigns production values to `variables` or raises Incompatible; returns a summary."""
  new_names = {v.name for v in variables}
  if new_names != set(old_values):
    missing = sorted(new_names.symmetric_difference(old_values))[:3]
    raise Incompatible(f'different variables ({", ".join(missing)}, ...)')
  assignments, remapped = [], []
  for variable in variables:
    old = old_values[variable.name]
    layer = _layer_of(variable.name)
    vocabulary = embedding_vocabulary(layer)
    if vocabulary is not None and variable.name.endswith('/embeddings:0'):
      if old.shape[1:] != tuple(variable.shape[1:]):
        raise Incompatible(f'{variable.name}: width {old.shape[1:]} vs {variable.shape[1:]}')
      value, moved = remap_rows(old, variable.numpy(), old_vocabularies[vocabulary.name],
                                new_vocabularies[vocabulary.name], vocabulary.shifted)
      remapped.append(f'{layer} {moved}/{len(new_vocabularies[vocabulary.name])}')
    elif old.shape != tuple(variable.shape):
      raise Incompatible(f'{variable.name}: shape {old.shape} vs {tuple(variable.shape)}')
    else:
      value = old
    assignments.append((variable, value))
  for variable, value in assignments:
    variable.assign(value)
  return f'{len(assignments)} variables; rows kept: ' + (', '.join(remapped) or 'none')


def vocabularies(vocabulary_path) -> Dict[str, List[str]]:
  """Every vocabulary the embeddings use, read through `vocabulary_path(name)`."""
  return {name: _read_vocabulary(vocabulary_path(name)) for name in features.VOCABULARIES}


def production_vocabularies(base_model_dir: str) -> Dict[str, List[str]]:
  """The vocabularies inside the production model (Transform's assets, saved with it)."""
  assets = os.path.join(base_model_dir, 'assets')

  def path(name):
    candidate = os.path.join(assets, name)
    if not tf.io.gfile.exists(candidate):
      raise Incompatible(f'the production model has no vocabulary {name!r}')
    return candidate

  return vocabularies(path)


def try_warm_start(model, ranker: str, base_model_dir: Optional[str],
                   tft_output: tft.TFTransformOutput) -> Dict[str, object]:
  """Seeds `model` from the production model when compatible; says what happened."""
  if not base_model_dir or not tf.io.gfile.exists(os.path.join(base_model_dir, 'saved_model.pb')):
    logging.info('%s: no production model, training from scratch', ranker)
    return {'warm_started': False, 'reason': 'no production model'}
  try:
    summary = seed_weights(model.variables, production_variables(base_model_dir, ranker),
                           production_vocabularies(base_model_dir),
                           vocabularies(tft_output.vocabulary_file_by_name))
  except Incompatible as reason:
    logging.warning('%s: production model not compatible (%s); training from scratch',
                    ranker, reason)
    return {'warm_started': False, 'reason': f'not compatible: {reason}',
            'production_model': base_model_dir}
  logging.info('%s: warm start from %s: %s', ranker, base_model_dir, summary)
  return {'warm_started': True, 'production_model': base_model_dir, 'seeded': summary}


def record(outcome: Mapping[str, object], model_run_dir: str) -> None:
  """warm_start.json in the Trainer's ModelRun: what the run started from, for reviewers."""
  tf.io.gfile.makedirs(model_run_dir)
  with tf.io.gfile.GFile(os.path.join(model_run_dir, 'warm_start.json'), 'w') as f:
    f.write(json.dumps(outcome, indent=2, sort_keys=True))
