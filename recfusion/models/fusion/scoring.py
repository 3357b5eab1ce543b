"""Scoring a split of transformed examples with every ranker, as the Fusion fit sees it."""
import os
from typing import Dict, List, Mapping

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.io import fileio

from recfusion import keys
from recfusion.models.fusion import fused_model, methods


def score_split(examples_uri: str, tft_output: tft.TFTransformOutput,
                ranker_dirs: Mapping[str, object], batch_size: int = 4096) -> Dict[str, np.ndarray]:
  """Every ranker's score on one split of transformed examples, with request ids, gains and
  the fusion context features, in file order. `ranker_dirs`: folders or loaded models."""
  files = sorted(fileio.glob(os.path.join(examples_uri, '*.gz')))
  if not files:
    raise FileNotFoundError(f'no transformed examples in {examples_uri}')
  rankers = {name: fused_model.load_member(model) for name, model in ranker_dirs.items()}
  inputs = {name: fused_model.ranker_inputs(model) for name, model in rankers.items()}
  spec = tft_output.transformed_feature_spec()
  dataset = (tf.data.TFRecordDataset(files, compression_type='GZIP').batch(batch_size)
             .map(lambda x: tf.io.parse_example(x, spec)))
  columns: Dict[str, List[np.ndarray]] = {
      name: [] for name in [*rankers, keys.REQUEST_ID_KEY, keys.LABEL_KEY,
                            *methods.CONTEXT_FEATURES]}
  for batch in dataset:
    for name, model in rankers.items():
      signature = model.signatures[keys.TRANSFORMED_SIGNATURE]
      columns[name].append(signature(**{k: batch[k] for k in inputs[name]})[
          keys.SCORE_KEY].numpy())
    columns[keys.REQUEST_ID_KEY].append(batch[keys.REQUEST_ID_KEY].numpy())
    columns[keys.LABEL_KEY].append(batch[keys.LABEL_KEY].numpy())
    for name in methods.CONTEXT_FEATURES:
      columns[name].append(batch[name].numpy().reshape(-1))
  return {name: np.concatenate(parts) for name, parts in columns.items()}
