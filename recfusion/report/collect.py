"""Everything a model-analysis report shows, gathered from a run's artifacts into plain data.

`from_artifacts` needs only artifact URIs and what the run's artifacts say (a RunSummary), so
the in-DAG RunReport component (which sees its input artifacts, not ML Metadata), the closing
summary of `recfusion run` and `recfusion report` (which read ML Metadata) build the same report.
"""
import json
import os
from typing import Dict, List, Optional, Tuple

import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx.dsl.io import fileio

from recfusion import keys, registry
from recfusion.evaluation import eval_config, gate, results
from recfusion.evaluation.results import metric_name, metric_values
from recfusion.keys import PROBABILITY_KEY, SCORE_KEY
from recfusion.report import drift, training
from recfusion.report.data import OVERALL, ReportData, Threshold  # noqa: F401 (re-exported)
from recfusion.runs.summary import RunSummary, saved_durations, summarize_run

def slice_name(slice_key) -> str:
  single_keys = slice_key.single_slice_keys
  if not single_keys:
    return OVERALL
  parts = []
  for key in single_keys:
    value = key.bytes_value.decode() if key.HasField('bytes_value') else (
        key.int64_value if key.HasField('int64_value') else key.float_value)
    parts.append(f'{key.column}={value}')
  return ', '.join(parts)


def _metrics_by_slice(metrics: results.Evaluation, baseline: bool):
  slices: Dict[str, Dict[str, float]] = {}
  curve: Dict[int, float] = {}
  members: Dict[str, Dict[str, float]] = {}
  for slice_key, key, value in metric_values(metrics, baseline):
    name = slice_name(slice_key)
    metric = metric_name(key)
    if key.output_name in (SCORE_KEY, PROBABILITY_KEY):
      slices.setdefault(name, {})[metric] = value
      if name == OVERALL and key.output_name == SCORE_KEY and key.name == 'ndcg':
        curve[key.sub_key.top_k.value] = value
    elif metric == 'ndcg@10':
      members.setdefault(name, {})[key.output_name] = value
  return slices, dict(sorted(curve.items())), members


def _calibration(evaluation_uri: str) -> List[Tuple[float, float, float]]:
  buckets = []
  for per_slice in tfma.load_plots(evaluation_uri):
    if per_slice.slice_key.single_slice_keys:
      continue
    for item in per_slice.plot_keys_and_values:
      if item.key.model_name == 'baseline' or not item.value.HasField('calibration_histogram_buckets'):
        continue
      for bucket in item.value.calibration_histogram_buckets.buckets:
        weight = bucket.num_weighted_examples.value
        if weight > 0:
          buckets.append((bucket.total_weighted_refined_prediction.value / weight,
                          bucket.total_weighted_label.value / weight, weight))
  return buckets


def _eval_config(evaluation_uri: str) -> tfma.EvalConfig:
  with fileio.open(os.path.join(evaluation_uri, 'eval_config.json')) as f:
    stored = json.load(f)
  return json_format.ParseDict(stored.get('evalConfig', stored), tfma.EvalConfig(),
                               ignore_unknown_fields=True)


def thresholds(evaluation_uri: str, slices: Dict[str, Dict[str, float]],
               baseline_slices: Dict[str, Dict[str, float]]) -> List[Threshold]:
  """Each configured threshold on the overall slice with its value, bound and verdict."""
  out = []
  candidate = slices.get(OVERALL, {})
  baseline = baseline_slices.get(OVERALL, {})
  for spec in _eval_config(evaluation_uri).metrics_specs:
    top_ks = list(spec.binarize.top_k_list.values) or [None]
    for metric in spec.metrics:
      for per_slice in metric.per_slice_thresholds:
        for top_k in top_ks:
          name = eval_config.metric_name(metric) + (f'@{top_k}' if top_k else '')
          value = candidate.get(name)
          threshold = per_slice.threshold
          if threshold.HasField('value_threshold'):
            bound = threshold.value_threshold.lower_bound.value
            out.append(Threshold(name, 'value', value, bound,
                                 None if value is None else value >= bound))
          if threshold.HasField('change_threshold'):
            bound = threshold.change_threshold.absolute.value
            if name in baseline and value is not None:
              change = value - baseline[name]
              out.append(Threshold(name, 'change vs baseline', change, bound, change >= bound))
            else:
              out.append(Threshold(name, 'change vs baseline', None, bound, None))
  return out


def read_anomalies(anomalies_uri: Optional[str]) -> List[str]:
  if not anomalies_uri:
    return []
  from tensorflow_metadata.proto.v0 import anomalies_pb2
  from recfusion.data.anomalies import describe_anomalies
  lines = []
  for path in sorted(fileio.glob(os.path.join(anomalies_uri, 'Split-*', 'SchemaDiff.pb'))):
    anomalies = anomalies_pb2.Anomalies()
    with fileio.open(path, 'rb') as f:
      anomalies.ParseFromString(f.read())
    split = os.path.basename(os.path.dirname(path))[len('Split-'):]
    lines += describe_anomalies(split, anomalies)
  return lines


def from_artifacts(evaluation_uri: str, run: Optional[RunSummary] = None,
                   anomalies_uri: Optional[str] = None, **extra) -> ReportData:
  """`extra`: models, config_yaml, history, training, drift."""
  run = run or RunSummary()
  metrics = results.load(evaluation_uri)
  slices, curve, members = _metrics_by_slice(metrics, baseline=False)
  baseline_slices, baseline_curve, _ = _metrics_by_slice(metrics, baseline=True)
  report = ReportData(
      run=run, blessed=run.blessed, slices=slices, baseline_slices=baseline_slices,
      ndcg_curve=curve, baseline_ndcg_curve=baseline_curve,
      per_model_ndcg10=members.get(OVERALL, {}), member_slices=members,
      ndcg10_change=_ndcg10_change(metrics),
      calibration=_calibration(evaluation_uri), anomalies=read_anomalies(anomalies_uri),
      **extra)
  report.thresholds = thresholds(evaluation_uri, slices, baseline_slices)
  report.checks = run.evaluation.get('gate') or [
      c.to_dict() for c in gate.load(evaluation_uri) or []]
  if report.blessed is None and report.thresholds:
    report.blessed = all(t.passed is not False for t in report.thresholds)
  return report


def _ndcg10_change(metrics: results.Evaluation) -> List[float]:
  change = results.gate_numbers(metrics).change
  return [] if change is None else [change.value, change.lower, change.upper]


def registry_history(registry_dir: Optional[str]) -> List[Dict]:
  """The registry's versions with the NDCG@10 each was pushed with ([] without a registry,
  or with one this run cannot read: the report still renders)."""
  if not registry_dir or not os.path.isdir(registry_dir):
    return []
  try:
    records = registry.read_index(registry_dir)
  except registry.RegistryError:
    return []
  return [{'version': r.version, 'pushed_at': r.pushed_at, 'run_id': r.run_id,
           'ndcg@10': r.metrics.get('ndcg@10'), 'rollback_of': r.extra.get('rollback_of')}
          for r in sorted(records, key=lambda r: r.version)]


def data_drift(statistics_uri: Optional[str], registry_dir: Optional[str],
               version: Optional[int]) -> Dict:
  """This run's train data against what production version `version` was trained on
  (recfusion/report/drift.py); {} without a production model."""
  if version is None:
    return {}
  production_uri = None
  if registry_dir and os.path.isdir(registry_dir):
    try:
      records = registry.read_index(registry_dir)
    except registry.RegistryError:
      records = []
    production_uri = next((r.extra.get(keys.STATISTICS) for r in records
                           if r.version == version), None)
  return drift.against_production(statistics_uri, production_uri, version)


def from_summary(run: RunSummary, run_dir: Optional[str] = None,
                 registry_dir: Optional[str] = None) -> ReportData:
  """The report of a run read from ML Metadata; `run_dir` adds its resolved config,
  `registry_dir` the NDCG@10 of every version pushed so far."""
  outputs = {c.name: c.outputs for c in run.components}
  models = {name: uris[0] for name, out in outputs.items()
            for key, uris in out.items() if key == 'model'}
  history = registry_history(registry_dir)
  evaluation_uri = run.evaluation.get('uri')
  if not evaluation_uri:
    # Still worth showing: which components ran, and on what data.
    return ReportData(run=run, blessed=run.blessed, models=models, history=history)
  config_yaml = ''
  if run_dir and os.path.exists(os.path.join(run_dir, 'config.yaml')):
    with open(os.path.join(run_dir, 'config.yaml')) as f:
      config_yaml = f.read()
  statistics_uri = (outputs.get('StatisticsGen', {}).get('statistics') or [None])[0]
  return from_artifacts(
      evaluation_uri, run,
      anomalies_uri=(outputs.get('ExampleValidator', {}).get('anomalies') or [None])[0],
      models=models, config_yaml=config_yaml, history=history,
      training=training.trainers(outputs),
      drift=data_drift(statistics_uri, registry_dir, run.baseline_version))


def from_run(metadata, pipeline: str, run_id: str, run_dir: Optional[str] = None,
             registry_dir: Optional[str] = None) -> ReportData:
  """The report of one run, its artifacts found through ML Metadata (a MetadataStore or the
  path of a run home's SQLite file); LookupError when the run has no evaluation."""
  run = summarize_run(metadata, pipeline, run_id, saved_durations(run_dir))
  if not run.evaluation.get('uri'):
    raise LookupError(f'run {run_id} has no Evaluator result (did it stop earlier?)')
  return from_summary(run, run_dir, registry_dir)
