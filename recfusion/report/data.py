"""What a report shows, as plain data: no TensorFlow or TFMA here.

recfusion/report/collect.py fills a ReportData from a run's artifacts (that needs TFMA); a
finished local run keeps it as `report.json` in its run folder, so `recfusion report` prints or
renders that run again without importing TensorFlow.
"""
import dataclasses
import json
import os
from typing import Dict, List, Optional, Tuple

from recfusion.runs.summary import RunSummary

REPORT_DATA_FILE = 'report.json'

OVERALL = 'overall'


@dataclasses.dataclass
class Threshold:
  metric: str
  kind: str  # 'value' or 'change vs baseline'
  value: Optional[float]
  bound: float
  passed: Optional[bool]  # None: not checked (no baseline for a change threshold)


@dataclasses.dataclass
class ReportData:
  """A run (what ran, its data, fusion, verdict and push) and its evaluation read in full."""
  run: RunSummary = dataclasses.field(default_factory=RunSummary)
  # The run's verdict; without one (no blessing artifact), the thresholds' own.
  blessed: Optional[bool] = None
  thresholds: List[Threshold] = dataclasses.field(default_factory=list)
  # The gate's checks (recfusion/evaluation/gate.py) as dicts: name, passed, detail.
  checks: List[Dict] = dataclasses.field(default_factory=list)
  # slice name -> metric -> value, for the candidate and (when there is one) the baseline.
  slices: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
  baseline_slices: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
  ndcg_curve: Dict[int, float] = dataclasses.field(default_factory=dict)
  baseline_ndcg_curve: Dict[int, float] = dataclasses.field(default_factory=dict)
  per_model_ndcg10: Dict[str, float] = dataclasses.field(default_factory=dict)
  # slice name -> member ranker -> its own NDCG@10 (scored beside the fused model).
  member_slices: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
  # The fused model's NDCG@10 minus production's: [change, lower, upper] of TFMA's 95% jackknife
  # interval over requests ([] without a production model).
  ndcg10_change: List[float] = dataclasses.field(default_factory=list)
  # The registry's versions, oldest first: version, pushed_at, run_id, ndcg@10, rollback_of.
  history: List[Dict] = dataclasses.field(default_factory=list)
  # ranker -> {'warm_start': what the Trainer started from, 'epochs': [{'epoch', 'loss',
  # 'val_loss', 'auc', 'val_auc'}], 'logdir': its TensorBoard logs}.
  training: Dict[str, Dict] = dataclasses.field(default_factory=dict)
  # This run's train data against the production model's (recfusion/report/drift.py):
  # {'version': N, 'rows': [{feature, measure, value, threshold, drifted, this_run,
  # production}]} or {'version': N, 'note': why not}; {} without a production model.
  drift: Dict = dataclasses.field(default_factory=dict)
  # (mean prediction, mean label, weighted examples) per calibration bucket that has examples.
  calibration: List[Tuple[float, float, float]] = dataclasses.field(default_factory=list)
  anomalies: List[str] = dataclasses.field(default_factory=list)
  models: Dict[str, str] = dataclasses.field(default_factory=dict)  # name -> artifact URI
  config_yaml: str = ''

  def to_dict(self) -> Dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, saved: Dict) -> 'ReportData':
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in saved.items() if k in fields}
    values['run'] = RunSummary.from_dict(saved['run'])
    values['thresholds'] = [Threshold(**t) for t in saved.get('thresholds', [])]
    # JSON keys are text; the NDCG@k curves are keyed by k.
    for curve in ('ndcg_curve', 'baseline_ndcg_curve'):
      values[curve] = {int(k): v for k, v in saved.get(curve, {}).items()}
    values['calibration'] = [tuple(bucket) for bucket in saved.get('calibration', [])]
    return cls(**values)


def save(report: ReportData, run_dir: str) -> str:
  """Written atomically: a killed process leaves no half file that `load` would misread."""
  path = os.path.join(run_dir, REPORT_DATA_FILE)
  temporary = f'{path}.{os.getpid()}'
  with open(temporary, 'w') as f:
    json.dump(report.to_dict(), f, sort_keys=True, allow_nan=True)
  os.replace(temporary, path)
  return path


def load(run_dir: Optional[str]) -> Optional[ReportData]:
  """The report a finished run kept, or None (no such file, or one this version cannot read)."""
  if not run_dir:
    return None
  path = os.path.join(run_dir, REPORT_DATA_FILE)
  try:
    with open(path) as f:
      return ReportData.from_dict(json.load(f))
  except (OSError, ValueError, TypeError, KeyError):
    return None
