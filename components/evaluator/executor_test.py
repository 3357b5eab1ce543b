"""The baseline-aware Evaluator executor, its gate, and the EvalConfig it is given."""
import dataclasses
import json
import os

import pytest
import tensorflow_model_analysis as tfma
from tfx.components.evaluator import executor as stock_executor
from tfx.types import standard_artifacts

from recfusion import keys
from recfusion.components.evaluator import executor
from recfusion.evaluation import eval_config, gate, results


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
  assert metric.class_name == 'RequestNDCG' and list(spec.output_names) == ['score']
  assert metric.module == 'recfusion.evaluation.ndcg'
  # Each extract is a request already (extractors.py): no spec groups by a query key again.
  assert list(spec.binarize.top_k_list.values) == [10]
  assert not any(spec.query_key for spec in config.metrics_specs)
  threshold = metric.per_slice_thresholds[0]
  assert list(threshold.slicing_specs) == [tfma.SlicingSpec()]
  assert threshold.threshold.value_threshold.lower_bound.value == 0.4
  assert threshold.threshold.change_threshold.absolute.value == -0.02


def _gate_threshold(config):
  (metric,) = [metric for spec in config.metrics_specs for metric in spec.metrics
               if metric.per_slice_thresholds]
  threshold = metric.per_slice_thresholds[0].threshold
  return threshold.value_threshold.lower_bound.value, threshold.change_threshold.absolute.value


def test_run_time_floor_and_tolerance_reach_tfma_and_the_gate(monkeypatch):
  from tfx.utils import proto_utils
  seen = {}
  monkeypatch.setattr(stock_executor.Executor, 'Do',
                      lambda self, inputs, outputs, properties: seen.update(properties))
  monkeypatch.setattr(executor, 'apply_gate',
                      lambda inputs, outputs, settings: seen.update(settings=settings))
  compiled = eval_config.build(0.4, 0.02, rankers=('text',))
  settings = gate.Settings(ndcg10_floor=0.4, tolerance=0.02, min_eval_requests=1,
                           material_change=0.0, member_tolerance=0.0)
  executor.Executor().Do({'model': [standard_artifacts.Model()]}, {}, {
      'eval_config': proto_utils.proto_to_json(compiled),
      executor.GATE_KEY: json.dumps(dataclasses.asdict(settings)),
      executor.FLOOR_KEY: 0.25, executor.TOLERANCE_KEY: 0.005})
  passed = proto_utils.json_to_proto(seen['eval_config'], tfma.EvalConfig())
  assert _gate_threshold(passed) == (0.25, -0.005)
  assert (seen['settings'].ndcg10_floor, seen['settings'].tolerance) == (0.25, 0.005)
  # TFMA gets none of recfusion's own parameters.
  assert not {executor.GATE_KEY, executor.FLOOR_KEY, executor.TOLERANCE_KEY} & set(seen)
  # Everything but the gate's threshold is as compiled.
  assert passed.metrics_specs[1:] == compiled.metrics_specs[1:]
  assert _gate_threshold(compiled) == (0.4, -0.02)


def test_without_run_time_thresholds_the_compiled_ones_stay():
  properties = {'eval_config': '{}', executor.GATE_KEY: '{}'}
  settings = gate.Settings(0.4, 0.02, 1, 0.0, 0.0)
  assert executor.with_thresholds(properties, settings) == ({'eval_config': '{}'}, settings)


def test_slices_are_request_level_features():
  config = eval_config.build(0.3, 0.01, rankers=('text', 'dcn', 'sequence'))
  sliced = {key for spec in config.slicing_specs for key in spec.feature_keys}
  assert sliced == {'request_type', 'history_bucket'}


def _blessed_outputs(tmp_path):
  evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
  evaluation.uri, blessing.uri = str(tmp_path / 'evaluation'), str(tmp_path / 'blessing')
  for artifact in (evaluation, blessing):
    os.makedirs(artifact.uri)
  open(os.path.join(blessing.uri, 'BLESSED'), 'w').close()
  blessing.set_int_custom_property(keys.BLESSED, 1)
  return {'evaluation': [evaluation], 'blessing': [blessing]}


def _fused_model(health):
  model = standard_artifacts.Model()
  model.set_string_custom_property(keys.MEMBER_HEALTH, json.dumps(health))
  return model


def _gate_on(monkeypatch, tmp_path, numbers, health, with_baseline=True, tfma_failures=(),
             tfma_blessed=True):
  monkeypatch.setattr(results, 'gate_numbers', lambda uri: numbers)
  monkeypatch.setattr(results, 'failed_thresholds', lambda uri: list(tfma_failures))
  outputs = _blessed_outputs(tmp_path)
  if not tfma_blessed:
    executor.set_not_blessed(outputs['blessing'][0])
  inputs = {'model': [_fused_model(health)],
            **({'baseline_model': [standard_artifacts.Model()]} if with_baseline else {})}
  checks = executor.apply_gate(inputs, outputs, SETTINGS)
  return checks, outputs['blessing'][0], outputs['evaluation'][0]


SETTINGS = gate.Settings(ndcg10_floor=0.3, tolerance=0.01, min_eval_requests=50,
                         material_change=0.001, member_tolerance=0.0, max_coverage_drop=0.1)
HEALTH = {'dcn': {'score_std': 0.9, 'request_auc': 0.7, 'weight': 0.7},
          'text': {'score_std': 0.4, 'request_auc': 0.6, 'weight': 0.3}}


def test_a_model_every_check_passes_stays_blessed(monkeypatch, tmp_path):
  numbers = results.GateNumbers(gate.Interval(0.75, 0.73, 0.77), gate.Interval(0.02, 0.01, 0.03),
                                {'dcn': 0.74, 'text': 0.6}, 80)
  checks, blessing, evaluation = _gate_on(monkeypatch, tmp_path, numbers, HEALTH)
  assert all(c.passed for c in checks) and len(checks) == 7
  assert keys.is_blessed(blessing)
  assert os.path.exists(os.path.join(blessing.uri, 'BLESSED'))
  assert gate.load(evaluation.uri) == checks
  assert json.loads(blessing.get_string_custom_property(keys.GATE_CHECKS)) == [
      c.to_dict() for c in checks]
  # What `recfusion runs` lists without reading TFMA's result back.
  assert float(blessing.get_string_custom_property(keys.NDCG10)) == 0.75


@pytest.mark.parametrize('numbers, health, failed', [
    # A tiny eval set.
    (results.GateNumbers(gate.Interval.point(0.75), gate.Interval(0.02, 0.01, 0.03), {}, 12),
     HEALTH, ['eval_requests']),
    # A constant member with a fusion weight.
    (results.GateNumbers(gate.Interval.point(0.75), gate.Interval(0.02, 0.01, 0.03), {}, 80),
     {**HEALTH, 'dcn': {'score_std': 0.0, 'request_auc': 0.5, 'weight': 0.5}},
     ['members_healthy']),
    # The fused model below its best member on eval.
    (results.GateNumbers(gate.Interval.point(0.70), gate.Interval(0.02, 0.01, 0.03),
                         {'dcn': 0.72}, 80), HEALTH, ['fused_vs_members']),
    # No material change vs production.
    (results.GateNumbers(gate.Interval.point(0.75), gate.Interval(0.0, 0.0, 0.0), {}, 80),
     HEALTH, ['material_change']),
    # A much narrower part of the catalog shown than production shows.
    (results.GateNumbers(gate.Interval.point(0.75), gate.Interval(0.02, 0.01, 0.03), {}, 80,
                         coverage_change=gate.Interval(-0.2, -0.25, -0.15)),
     HEALTH, ['coverage_vs_baseline']),
    # Possibly much worse than production: the interval's lower end past the tolerance.
    (results.GateNumbers(gate.Interval.point(0.75), gate.Interval(-0.008, -0.02, -0.001), {}, 80),
     HEALTH, ['change_vs_baseline']),
])
def test_each_failed_check_unblesses_a_model_tfma_blessed(monkeypatch, tmp_path, numbers, health,
                                                          failed):
  checks, blessing, _ = _gate_on(monkeypatch, tmp_path, numbers, health)
  assert [c.name for c in checks if not c.passed] == failed
  assert not keys.is_blessed(blessing)
  assert blessing.get_int_custom_property(keys.BLESSED) == 0
  assert sorted(os.listdir(blessing.uri)) == ['NOT_BLESSED']


def test_tfma_threshold_failures_are_the_first_check(monkeypatch, tmp_path):
  numbers = results.GateNumbers(gate.Interval.point(0.2), None, {}, 80)
  checks, _, _ = _gate_on(monkeypatch, tmp_path, numbers, HEALTH, with_baseline=False,
                          tfma_failures=['ndcg@10 value 0.2000 (lower bound 0.3)'])
  assert checks[0] == gate.Check('tfma_thresholds', False,
                                 'TFMA thresholds failed: ndcg@10 value 0.2000 (lower bound 0.3)')
  # Without a production model there is no change to check.
  assert [c.name for c in checks] == ['tfma_thresholds', 'eval_requests', 'fused_vs_members',
                                      'members_healthy']


def test_tfma_refusing_without_a_failed_threshold_fails_the_first_check(monkeypatch, tmp_path):
  numbers = results.GateNumbers(gate.Interval(0.75, 0.73, 0.77), gate.Interval(0.02, 0.01, 0.03),
                                {'dcn': 0.74}, 80)
  checks, blessing, evaluation = _gate_on(monkeypatch, tmp_path, numbers, HEALTH,
                                          tfma_blessed=False)
  assert [c.name for c in checks if not c.passed] == ['tfma_thresholds']
  assert checks[0].detail.startswith('TFMA did not bless the model though no threshold failed')
  assert not keys.is_blessed(blessing)
  with open(os.path.join(evaluation.uri, gate.GATE_FILE)) as f:
    assert json.load(f)['blessed'] is False


def test_a_baseline_without_a_computed_change_fails_instead_of_skipping(monkeypatch, tmp_path):
  numbers = results.GateNumbers(gate.Interval(0.75, 0.73, 0.77), None, {'dcn': 0.74}, 80)
  checks, blessing, _ = _gate_on(monkeypatch, tmp_path, numbers, HEALTH)
  failed = [c for c in checks if not c.passed]
  assert [(c.name, c.detail) for c in failed] == [
      ('change_vs_baseline', 'TFMA computed no NDCG@10 change vs production to check')]
  assert not keys.is_blessed(blessing)


def test_tfma_is_handed_the_extractors_that_drop_unread_features(monkeypatch):
  seen = {}
  monkeypatch.setattr(stock_executor.Executor, 'Do',
                      lambda self, inputs, outputs, properties: seen.update(properties))
  executor.Executor().Do({'model': [standard_artifacts.Model()]}, {}, {})
  assert seen[executor.MODULE_PATH_KEY] == 'recfusion.evaluation.extractors'
  from tfx.components.util import udf_utils
  assert udf_utils.try_get_fn(seen, 'custom_extractors') is not None


def test_a_module_set_for_the_evaluator_is_kept():
  own = {executor.MODULE_FILE_KEY: '/src/my_extractors.py'}
  assert executor.with_slim_extracts(own) == own


def test_tfma_runs_with_large_arrays_summarized_in_reprs(monkeypatch):
  import numpy as np
  seen = {}
  monkeypatch.setattr(stock_executor.Executor, 'Do', lambda self, inputs, outputs, properties:
                      seen.update(text=repr(np.zeros(1000, dtype=object))))
  before = np.get_printoptions()
  executor.Executor().Do({'model': [standard_artifacts.Model()]}, {}, {})
  # TensorFlow formats a discarded error message holding TFMA's whole batch (1,000 examples).
  assert '...' in seen['text'] and len(seen['text']) < 200
  assert np.get_printoptions() == before


def test_tfma_builds_its_intervals_with_recfusions_jackknife(monkeypatch):
  from tensorflow_model_analysis.evaluators import jackknife as tfma_jackknife
  from recfusion.evaluation import jackknife
  seen = {}
  monkeypatch.setattr(stock_executor.Executor, 'Do', lambda self, inputs, outputs, properties:
                      seen.update(used=tfma_jackknife.ComputeWithConfidenceIntervals))
  original = tfma_jackknife.ComputeWithConfidenceIntervals
  executor.Executor().Do({'model': [standard_artifacts.Model()]}, {}, {})
  assert seen['used'] is jackknife.ComputeWithConfidenceIntervals
  assert tfma_jackknife.ComputeWithConfidenceIntervals is original


@pytest.mark.parametrize('before', [False, True])
def test_tfma_scores_with_tensorflows_graph_optimizer_off_and_it_comes_back(monkeypatch,
                                                                           before):
  import tensorflow as tf
  seen = {}
  monkeypatch.setattr(stock_executor.Executor, 'Do', lambda self, inputs, outputs, properties:
                      seen.update(tf.config.optimizer.get_experimental_options()))
  tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': before})
  try:
    executor.Executor().Do({'model': [standard_artifacts.Model()]}, {}, {})
    assert seen['disable_meta_optimizer'] is True
    assert tf.config.optimizer.get_experimental_options()['disable_meta_optimizer'] is before
  finally:
    tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': False})
