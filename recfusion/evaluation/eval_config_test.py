import tensorflow_model_analysis as tfma

from recfusion.evaluation import eval_config, ndcg


def test_metric_names_are_the_keys_the_metrics_write():
  assert eval_config.METRIC_NAMES[eval_config.NDCG_CLASS] == ndcg.NDCG_NAME
  assert eval_config.metric_name(tfma.MetricConfig(class_name='RequestNDCG')) == 'ndcg'
  assert eval_config.metric_name(tfma.MetricConfig(class_name='NDCG')) == 'ndcg'  # older runs
  assert eval_config.metric_name(tfma.MetricConfig(class_name='MRR')) == 'mrr'
  assert eval_config.metric_name(tfma.MetricConfig(
      class_name='MRR', config='"name": "mrr_gain_gt_1", "gain_threshold": 1.0')) == 'mrr_gain_gt_1'


def test_no_spec_groups_by_a_query_key_and_tfma_adds_no_default_metrics():
  config = eval_config.build(0.3, 0.01, rankers=('dcn',))
  assert not any(spec.query_key for spec in config.metrics_specs)
  assert config.options.include_default_metrics.value is False
  classes = [m.class_name for spec in config.metrics_specs for m in spec.metrics]
  assert 'Calibration' not in classes and 'EngagementCurve' in classes
