"""Everything a model-analysis report shows, gathered from a run's artifacts into plain data.

`from_artifacts` needs only artifact URIs, so the in-DAG RunReport component (which sees its
input artifacts, not ML Metadata) and `recfusion report` (which finds the URIs in ML Metadata)
build the same report.
"""
import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx.dsl.io import fileio

from recfusion.evaluation.results import metric_name, metric_values
from recfusion.models.fusion.fused_model import PROBABILITY_KEY
from recfusion.models.training import SCORE_KEY

OVERALL = 'overall'
SLICE_METRICS = ('ndcg@10', 'mrr', 'auc', 'example_count')


@dataclasses.dataclass
class Threshold:
  metric: str
  kind: str  # 'value' or 'change vs baseline'
  value: Optional[float]
  bound: float
  passed: Optional[bool]  # None: not checked (no baseline for a change threshold)


@dataclasses.dataclass
class ReportData:
  run_id: str = ''
  pipeline: str = ''
  blessed: Optional[bool] = None
  thresholds: List[Threshold] = dataclasses.field(default_factory=list)
  baseline_version: Optional[int] = None
  # slice name -> metric -> value, for the candidate and (when there is one) the baseline.
  slices: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
  baseline_slices: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
  ndcg_curve: Dict[int, float] = dataclasses.field(default_factory=dict)
  baseline_ndcg_curve: Dict[int, float] = dataclasses.field(default_factory=dict)
  per_model_ndcg10: Dict[str, float] = dataclasses.field(default_factory=dict)
  # (mean prediction, mean label, weighted examples) per calibration bucket that has examples.
  calibration: List[Tuple[float, float, float]] = dataclasses.field(default_factory=list)
  fusion: Dict[str, Any] = dataclasses.field(default_factory=dict)
  data: Dict[str, Any] = dataclasses.field(default_factory=dict)
  anomalies: List[str] = dataclasses.field(default_factory=list)
  components: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
  pushed: Dict[str, Any] = dataclasses.field(default_factory=dict)
  models: Dict[str, str] = dataclasses.field(default_factory=dict)  # name -> artifact URI
  config_yaml: str = ''

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @property
  def headline(self) -> Dict[str, float]:
    return self.slices.get(OVERALL, {})


def slice_name(slice_key) -> str:
  keys = slice_key.single_slice_keys
  if not keys:
    return OVERALL
  parts = []
  for key in keys:
    value = key.bytes_value.decode() if key.HasField('bytes_value') else (
        key.int64_value if key.HasField('int64_value') else key.float_value)
    parts.append(f'{key.column}={value}')
  return ', '.join(parts)


def _metrics_by_slice(evaluation_uri: str, baseline: bool):
  slices: Dict[str, Dict[str, float]] = {}
  curve: Dict[int, float] = {}
  per_model: Dict[str, float] = {}
  for slice_key, key, value in metric_values(evaluation_uri, baseline):
    name = slice_name(slice_key)
    metric = metric_name(key)
    if key.output_name in (SCORE_KEY, PROBABILITY_KEY):
      slices.setdefault(name, {})[metric] = value
      if name == OVERALL and key.output_name == SCORE_KEY and key.name == 'ndcg':
        curve[key.sub_key.top_k.value] = value
    elif name == OVERALL and metric == 'ndcg@10':
      per_model[key.output_name] = value
  return slices, dict(sorted(curve.items())), per_model


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
          name = metric.class_name.lower() + (f'@{top_k}' if top_k else '')
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
  from recfusion.components.strict_example_validator.executor import describe_anomalies
  lines = []
  for path in sorted(fileio.glob(os.path.join(anomalies_uri, 'Split-*', 'SchemaDiff.pb'))):
    anomalies = anomalies_pb2.Anomalies()
    with fileio.open(path, 'rb') as f:
      anomalies.ParseFromString(f.read())
    split = os.path.basename(os.path.dirname(path))[len('Split-'):]
    lines += describe_anomalies(split, anomalies)
  return lines


def from_artifacts(evaluation_uri: str, blessed: Optional[bool] = None,
                   fusion: Optional[Dict[str, Any]] = None,
                   join_report: Optional[Dict[str, Any]] = None,
                   anomalies_uri: Optional[str] = None,
                   baseline_version: Optional[int] = None, **extra) -> ReportData:
  slices, curve, per_model = _metrics_by_slice(evaluation_uri, baseline=False)
  baseline_slices, baseline_curve, _ = _metrics_by_slice(evaluation_uri, baseline=True)
  report = ReportData(
      blessed=blessed, slices=slices, baseline_slices=baseline_slices, ndcg_curve=curve,
      baseline_ndcg_curve=baseline_curve, per_model_ndcg10=per_model,
      calibration=_calibration(evaluation_uri), fusion=fusion or {},
      data=join_report or {}, anomalies=read_anomalies(anomalies_uri),
      baseline_version=baseline_version, **extra)
  report.thresholds = thresholds(evaluation_uri, slices, baseline_slices)
  if report.blessed is None and report.thresholds:
    report.blessed = all(t.passed is not False for t in report.thresholds)
  return report


def from_run(metadata_path: str, pipeline: str, run_id: str,
             run_dir: Optional[str] = None) -> ReportData:
  """The report of one run, its artifacts found through ML Metadata."""
  from recfusion.runs.summary import summarize_run
  durations = {}
  config_yaml = ''
  if run_dir and os.path.exists(os.path.join(run_dir, 'summary.json')):
    with open(os.path.join(run_dir, 'summary.json')) as f:
      durations = {c['name']: c['seconds'] for c in json.load(f)['components']}
  if run_dir and os.path.exists(os.path.join(run_dir, 'config.yaml')):
    with open(os.path.join(run_dir, 'config.yaml')) as f:
      config_yaml = f.read()
  summary = summarize_run(metadata_path, pipeline, run_id, durations)
  outputs = {c.name: c.outputs for c in summary.components}
  evaluation_uri = summary.evaluation.get('uri')
  if not evaluation_uri:
    raise LookupError(f'run {run_id} has no Evaluator result (did it stop earlier?)')
  models = {name: uris[0] for name, out in outputs.items()
            for key, uris in out.items() if key == 'model'}
  return from_artifacts(
      evaluation_uri, blessed=summary.evaluation.get('blessed'), fusion=summary.fusion,
      join_report=summary.join_report,
      anomalies_uri=(outputs.get('ExampleValidator', {}).get('anomalies') or [None])[0],
      baseline_version=summary.evaluation.get('baseline_version'),
      run_id=run_id, pipeline=pipeline,
      components=[dataclasses.asdict(c) for c in summary.components],
      pushed=summary.push, models=models, config_yaml=config_yaml)
