"""The baseline-aware Evaluator executor and the EvalConfig it is given."""
import tensorflow_model_analysis as tfma
from tfx.components.evaluator import executor as stock_executor
from tfx.types import standard_artifacts

from recfusion import keys
from recfusion.evaluation import eval_config
from recfusion.components.evaluator import executor


def _captured_inputs(monkeypatch, baseline_found):
  seen = {}
  monkeypatch.setattr(stock_executor.Executor, 'Do',
                      lambda self, inputs, outputs, properties: seen.update(inputs))
  baseline = standard_artifacts.Model()
  baseline.set_int_custom_property(keys.BASELINE_FOUND, int(baseline_found))
  executor.Executor().Do({'model': [standard_artifacts.Model()], 'baseline_model': [baseline]},
                         {}, {})
  return seen


def test_missing_baseline_is_dropped_before_tfma(monkeypatch):
  assert set(_captured_inputs(monkeypatch, baseline_found=False)) == {'model'}


def test_found_baseline_is_kept(monkeypatch):
  assert set(_captured_inputs(monkeypatch, baseline_found=True)) == {'model', 'baseline_model'}


def test_gate_is_on_ndcg10_of_the_fused_score_and_the_overall_slice_only():
  config = eval_config.build(ndcg10_floor=0.4, tolerance=0.02, rankers=('text', 'dcn', 'sequence'))
  tfma.utils.verify_eval_config(config)
  gated = [(spec, metric) for spec in config.metrics_specs for metric in spec.metrics
           if metric.per_slice_thresholds]
  assert len(gated) == 1
  spec, metric = gated[0]
  assert metric.class_name == 'NDCG' and list(spec.output_names) == ['score']
  assert list(spec.binarize.top_k_list.values) == [10] and spec.query_key == 'request_id'
  threshold = metric.per_slice_thresholds[0]
  assert list(threshold.slicing_specs) == [tfma.SlicingSpec()]
  assert threshold.threshold.value_threshold.lower_bound.value == 0.4
  assert threshold.threshold.change_threshold.absolute.value == -0.02


def test_slices_are_request_level_features():
  config = eval_config.build(0.3, 0.01, rankers=('text', 'dcn', 'sequence'))
  sliced = {key for spec in config.slicing_specs for key in spec.feature_keys}
  assert sliced == {'request_type', 'history_bucket'}
