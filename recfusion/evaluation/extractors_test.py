import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants

from recfusion.evaluation import eval_config, extractors


def test_features_read_are_labels_query_slices_and_the_metrics_own():
  config = eval_config.build(0.3, 0.01, rankers=('dcn', 'text'))
  assert extractors.features_read(config) == {
      'request_id', 'gain', 'engaged', 'request_type', 'history_bucket',
      'item_id', 'category', 'brand'}


def test_features_read_include_example_weights_and_sliced_values():
  config = tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(label_key='y', example_weight_key='w')],
      slicing_specs=[tfma.SlicingSpec(feature_values={'country': 'NL'})],
      cross_slicing_specs=[tfma.CrossSlicingSpec(
          baseline_spec=tfma.SlicingSpec(feature_keys=['device']),
          slicing_specs=[tfma.SlicingSpec(feature_keys=['hour'])])])
  assert extractors.features_read(config, metric_features=()) == {
      'y', 'w', 'country', 'device', 'hour'}


def test_slim_keeps_what_metrics_read_and_drops_the_rest():
  batch = {
      constants.INPUT_KEY: np.array([b'serialized', b'bytes']),
      constants.TRANSFORMED_FEATURES_KEY: {'title_tokens': np.zeros((2, 12))},
      constants.FEATURES_KEY: {'request_id': np.array([b'r1', b'r1']),
                               'title': np.array([b'a long title', b'another']),
                               'history_item_id': np.array([[b'i1'], [b'i2']])},
      constants.PREDICTIONS_KEY: {'score': np.array([0.1, 0.2])},
      constants.LABELS_KEY: {'score': np.array([1.0, 0.0])},
  }
  slim = extractors.slim(batch, frozenset({'request_id', 'gain'}))
  assert set(slim) == {constants.FEATURES_KEY, constants.PREDICTIONS_KEY, constants.LABELS_KEY}
  assert list(slim[constants.FEATURES_KEY]) == ['request_id']
  assert slim[constants.PREDICTIONS_KEY] is batch[constants.PREDICTIONS_KEY]
  assert 'title' in batch[constants.FEATURES_KEY]  # the input batch is left as it was


def test_custom_extractors_slim_right_before_tfma_unbatches():
  config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(label_key='gain',
                                                       prediction_key='score')],
                           metrics_specs=[tfma.MetricsSpec(query_key='request_id')])
  stages = [e.stage_name for e in extractors.custom_extractors(eval_config=config)]
  default = [e.stage_name for e in tfma.default_extractors(eval_config=config)]
  unbatch = default.index(extractors.UNBATCH_STAGE_NAME)
  assert stages == default[:unbatch] + [extractors.SLIM_STAGE_NAME] + default[unbatch:]


def test_without_an_unbatch_stage_it_says_so(monkeypatch):
  monkeypatch.setattr(tfma, 'default_extractors', lambda **kwargs: [])
  with pytest.raises(ValueError, match='no ExtractUnbatchedInputs stage'):
    extractors.custom_extractors(eval_config=tfma.EvalConfig())
