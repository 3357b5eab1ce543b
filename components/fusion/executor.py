"""Fusion executor: scores `validation` with the three rankers, fits the fusion, exports one model."""
import json
import os
from typing import Any, Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import path_utils

from recfusion import ranking_metrics
from recfusion.config import FUSION_METHODS
from recfusion.models.fusion import fused_model, methods, weighted
from recfusion.models import training
from recfusion.models import preprocessing

RANKER_KEYS = {'text': 'text_model', 'dcn': 'dcn_model', 'sequence': 'sequence_model'}
REPORT_FILE = 'fusion_report.json'
FIT_SPLIT = 'validation'


def score_split(examples_uri: str, tft_output: tft.TFTransformOutput,
                ranker_dirs: Dict[str, str], batch_size: int = 4096) -> Dict[str, np.ndarray]:
  """Every ranker's score on one split of transformed examples, with request ids and gains."""
  files = sorted(fileio.glob(os.path.join(examples_uri, '*.gz')))
  if not files:
    raise FileNotFoundError(f'no transformed examples in {examples_uri}')
  rankers = {name: tf.saved_model.load(path) for name, path in ranker_dirs.items()}
  inputs = {name: fused_model.ranker_inputs(model) for name, model in rankers.items()}
  spec = tft_output.transformed_feature_spec()
  dataset = (tf.data.TFRecordDataset(files, compression_type='GZIP').batch(batch_size)
             .map(lambda x: tf.io.parse_example(x, spec)))
  columns: Dict[str, List[np.ndarray]] = {
      name: [] for name in list(rankers) + ['request_id', 'gain', *methods.CONTEXT_FEATURES]}
  for batch in dataset:
    for name, model in rankers.items():
      signature = model.signatures[training.TRANSFORMED_SIGNATURE]
      columns[name].append(signature(**{k: batch[k] for k in inputs[name]})[
          training.SCORE_KEY].numpy())
    columns['request_id'].append(batch[preprocessing.REQUEST_ID_KEY].numpy())
    columns['gain'].append(batch[preprocessing.LABEL_KEY].numpy())
    for name in methods.CONTEXT_FEATURES:
      columns[name].append(batch[name].numpy().reshape(-1))
  return {name: np.concatenate(parts) for name, parts in columns.items()}


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    method = exec_properties.get('method') or 'weighted'
    if method not in FUSION_METHODS:
      raise ValueError(f'fusion method {method!r} is not available; choose from {FUSION_METHODS}')
    tft_output = tft.TFTransformOutput(
        artifact_utils.get_single_uri(input_dict['transform_graph']))
    ranker_dirs = {name: path_utils.serving_model_path(
        artifact_utils.get_single_uri(input_dict[key])) for name, key in RANKER_KEYS.items()}
    examples = artifact_utils.get_single_instance(input_dict['examples'])
    validation = score_split(artifact_utils.get_split_uri([examples], FIT_SPLIT), tft_output,
                             ranker_dirs)
    request_ids, gains = validation['request_id'], validation['gain']

    standardizers = {name: weighted.Standardizer.fit(validation[name]) for name in ranker_dirs}
    standardized = {name: standardizers[name].apply(validation[name]) for name in ranker_dirs}
    context = {name: validation[name] for name in methods.CONTEXT_FEATURES}
    fusion, validation_scores = methods.fit(
        method, list(ranker_dirs), standardized, context, gains, request_ids,
        grid_step=float(exec_properties.get('grid_step') or 0.05))
    platt = weighted.fit_platt(fusion.score(standardized, context), gains > 0)

    model_artifact = artifact_utils.get_single_instance(output_dict['model'])
    module = fused_model.FusedRanker(
        tft_output, ranker_dirs, {n: (s.mean, s.std) for n, s in standardizers.items()},
        fusion, platt)
    fused_model.save(module, path_utils.serving_model_path(model_artifact.uri))

    report = {
        'method': method, 'fit_split': FIT_SPLIT, 'weights': fusion.mean_weights,
        'params': {k: np.asarray(v).tolist() for k, v in fusion.params.items()},
        'fusion': fusion.describe(),
        # stacking's validation metrics are cross-fitted: no row is scored by a model that
        # saw it.
        'validation_scores': 'cross-fitted' if method == 'stacking' else 'in-sample',
        'standardization': {n: {'mean': s.mean, 'std': s.std} for n, s in standardizers.items()},
        'calibration': {'a': platt[0], 'b': platt[1]},
        'examples': int(len(gains)), 'requests': int(len(np.unique(request_ids))),
        'metrics': {name: ranking_metrics.headline(request_ids, gains, validation[name])
                    for name in ranker_dirs},
    }
    report['metrics']['fused'] = ranking_metrics.headline(request_ids, gains, validation_scores)
    report_artifact = artifact_utils.get_single_instance(output_dict['fusion_report'])
    fileio.makedirs(report_artifact.uri)
    with fileio.open(os.path.join(report_artifact.uri, REPORT_FILE), 'w') as f:
      f.write(json.dumps(report, indent=2, sort_keys=True))
    report_artifact.set_string_custom_property(keys.FUSION_REPORT, json.dumps(report, sort_keys=True))
    model_artifact.set_string_custom_property(keys.FUSION_METHOD, method)
    logging.info('Fusion (%s): weights %s; validation metrics %s', method, fusion.mean_weights,
                 report['metrics'])
