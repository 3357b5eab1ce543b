"""The report's lines and table rows, shared by every format (terminal, markdown, HTML).

No plotting imports: the terminal summary, which `recfusion run` prints after every run, loads
this and not the charts.
"""
import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from recfusion.keys import SPLITS
from recfusion.report.data import OVERALL, ReportData

MODEL_COLUMNS = ('model', 'weight', 'NDCG@10 validation', 'AUC validation', 'NDCG@10 eval')
THRESHOLD_COLUMNS = ('metric', 'threshold', 'value', 'bound', 'result')
CHECK_COLUMNS = ('check', 'result', 'detail')
HEADLINE_COLUMNS = ('metric', 'candidate', 'baseline', 'change')
COMPONENT_COLUMNS = ('component', 'state', 'seconds')
# Per slice: its size first (a change on 20 requests is noise), then the candidate against
# production. `baseline ` and `change ` keys read the baseline's value and the difference.
SLICE_COLUMNS = (('requests', 'requests'), ('example_count', 'examples'),
                 ('ndcg@10', 'NDCG@10'), ('baseline ndcg@10', 'production'),
                 ('change ndcg@10', 'change'), ('mrr', 'MRR'), ('auc', 'AUC'))
BASELINE_PREFIX, CHANGE_PREFIX = 'baseline ', 'change '
COUNT_METRICS = ('requests', 'example_count')
# What shoppers see (recfusion/evaluation/diversity.py), each with how to read it.
DIVERSITY_COLUMNS = ('metric', 'candidate', 'baseline', 'change', 'how to read it')
DIVERSITY_METRICS = (
    ('category_diversity@10', 'share of pairs in a top 10 from different categories; higher: '
     'more variety per list'),
    ('brand_diversity@10', 'the same for brands'),
    ('coverage@10', 'distinct items in any top 10 over the eval candidates; higher: more of '
     'the catalog reaches shoppers (the gate: at most evaluation.max_coverage_drop below '
     'production)'),
    ('popular_share@10', 'share of top-10 slots taken by the 1% most engaged items; lower: '
     'less concentration on best sellers'),
    ('novelty@10', 'mean -log2 engagement share of the items shown, in bits; higher: less '
     'familiar items'),
)
HEADLINE_METRICS = ('ndcg@5', 'ndcg@10', 'ndcg@20', 'mrr', 'auc', 'calibration',
                    'example_count')


# Metrics of the binary engagement label (gain > 0): undefined when every example is engaged.
ENGAGEMENT_METRICS = ('mrr', 'auc', 'calibration')
NOT_DEFINED = 'n/a'


def fmt(value, digits: int = 4) -> str:
  if value is None:
    return '-'
  if isinstance(value, float) and value != value:
    return NOT_DEFINED
  if isinstance(value, float) and value.is_integer() and abs(value) > 1:
    return f'{int(value)}'
  return f'{value:.{digits}f}' if isinstance(value, float) else str(value)


def verdict_line(report: ReportData) -> str:
  since = report.run.push.get('unchanged_since')
  if since:
    return (f'nothing new since registry version {since}: same data, config and code; '
            'nothing trained')
  if report.blessed is None:
    return 'no verdict (no thresholds configured)'
  word = 'BLESSED' if report.blessed else 'NOT BLESSED'
  pushed = report.run.push
  if pushed.get('pushed'):
    return f'{word}: pushed as registry version {pushed.get("version")}'
  if pushed.get('refused'):
    return f'{word}: not pushed (registry pinned)'
  return f'{word}: not pushed' if pushed else word


def push_line(report: ReportData) -> Optional[str]:
  """Where the model went, or why it went nowhere; None when the run has no push step."""
  pushed = report.run.push
  if not pushed:
    return None
  if pushed.get('pushed'):
    cost = serving_cost_text(pushed.get('serving') or {})
    compact = compact_text(pushed.get('compact') or {})
    return (f'pushed version {pushed.get("version")}: {pushed.get("path")}'
            + (f' ({cost})' if cost else '') + (f'; {compact}' if compact else ''))
  if pushed.get('refused'):
    return f'not pushed: {pushed["refused"]}'
  if pushed.get('unchanged_since'):
    return f'not pushed: version {pushed["unchanged_since"]} was made from the same inputs'
  return 'not pushed: the model was not blessed' if report.blessed is False else 'not pushed'


def serving_cost_text(cost: Mapping) -> str:
  """'12.3 MB; 4.1 ms p50, 6.0 ms p99 a request of 27 candidates', from the smoke test."""
  parts = [f'{cost["size_mb"]:.1f} MB'] if 'size_mb' in cost else []
  if 'latency_ms_p50' in cost:
    parts.append(f'{cost["latency_ms_p50"]:.1f} ms p50, {cost["latency_ms_p99"]:.1f} ms p99 a '
                 f'request of {cost["candidates_per_request"]:g} candidates')
  return '; '.join(parts)


def compact_text(compact: Mapping) -> str:
  """What the compact export did: pushed with its cost and gain, or why it was refused."""
  if not compact:
    return ''
  pruned = ', '.join(compact.get('pruned') or []) or 'none'
  if 'refused' in compact:
    return (f'compact export without {pruned} refused (the full model was pushed): '
            f'{compact["refused"]}')
  full, small = compact.get('full') or {}, compact.get('compact') or {}
  gain = ''
  if full.get('latency_ms_p50') and small.get('latency_ms_p50'):
    gain = (f', p50 {small["latency_ms_p50"]:.1f} ms vs {full["latency_ms_p50"]:.1f} ms full')
  if full.get('size_mb') and small.get('size_mb'):
    gain += f', {small["size_mb"]:.1f} MB vs {full["size_mb"]:.1f} MB'
  return (f'compact export without {pruned}: NDCG@10 {-(compact.get("ndcg_loss") or 0.0):+.4f} '
          f'vs the full model{gain}')


def baseline_title(report: ReportData) -> str:
  version = report.run.baseline_version
  return (f'registry version {version}' if version is not None
          else 'no model in production yet')


def threshold_rows(report: ReportData) -> List[List[str]]:
  rows = []
  for t in report.thresholds:
    status = 'pass' if t.passed else ('fail' if t.passed is False else 'not checked')
    bound = f'>= {t.bound:g}' if t.kind == 'value' else f'>= {t.bound:+g}'
    rows.append([t.metric, t.kind, fmt(t.value), bound, status])
  return rows


def check_rows(report: ReportData) -> List[List[str]]:
  """The gate's checks, failures first: the reason a model was not pushed leads."""
  ordered = sorted(report.checks, key=lambda c: bool(c['passed']))
  return [[c['name'], 'pass' if c['passed'] else 'fail', c['detail']] for c in ordered]


def engagement_undefined(report: ReportData) -> bool:
  """True when every eval example is engaged (graded judgments with no gain-0 candidates):
  there is no negative class, so AUC, MRR and calibration say nothing."""
  data = report.run.join_report or {}
  key = 'examples_without_engagement_eval'
  return key in data and data[key] == 0 and data.get('examples_eval', 0) > 0


def _metric(report: ReportData, metrics: Mapping, key: str):
  if key in ENGAGEMENT_METRICS and engagement_undefined(report):
    return float('nan')
  return metrics.get(key)


def change_text(change: Sequence[float]) -> str:
  """`+0.0123 [-0.0031, +0.0270]`; the point alone when TFMA computed no interval."""
  value, lower, upper = change
  if lower == upper == value:
    return f'{value:+.4f}'
  return f'{value:+.4f} [{lower:+.4f}, {upper:+.4f}]'


def _compared(report: ReportData, key: str) -> List[str]:
  """[candidate, baseline, change] of one overall metric; NDCG@10's change with its
  interval."""
  value = _metric(report, report.slices.get(OVERALL, {}), key)
  before = _metric(report, report.baseline_slices.get(OVERALL, {}), key)
  diff = (value - before if value is not None and before is not None and value == value
          and before == before else None)
  if key == 'ndcg@10' and report.ndcg10_change:
    return [fmt(value), fmt(before), change_text(report.ndcg10_change)]
  return [fmt(value), fmt(before), '-' if diff is None else f'{diff:+.4f}']


def headline_rows(report: ReportData) -> List[List[str]]:
  return [[key, *_compared(report, key)] for key in HEADLINE_METRICS]


def diversity_rows(report: ReportData) -> List[List[str]]:
  """Empty for an evaluation from before the diversity metrics."""
  overall = report.slices.get(OVERALL, {})
  return [[key, *_compared(report, key), meaning] for key, meaning in DIVERSITY_METRICS
          if key in overall]


def slice_order(names) -> List[str]:
  """Overall first, then by name with numbers in numeric order (`3-5` before `11+`)."""
  def natural(name: str):
    return [(0, int(part), '') if part.isdigit() else (1, 0, part)
            for part in re.split(r'(\d+)', name)]
  return sorted(names, key=lambda name: (name != OVERALL, natural(name)))


def _slice_cell(report: ReportData, name: str, key: str) -> str:
  if key.startswith(BASELINE_PREFIX):
    return fmt(_metric(report, report.baseline_slices.get(name, {}), key[len(BASELINE_PREFIX):]))
  if key.startswith(CHANGE_PREFIX):
    key = key[len(CHANGE_PREFIX):]
    value = _metric(report, report.slices[name], key)
    before = _metric(report, report.baseline_slices.get(name, {}), key)
    if value is None or before is None or value != value or before != before:
      return '-'
    return f'{value - before:+.4f}'
  value = _metric(report, report.slices[name], key)
  if key in COUNT_METRICS and isinstance(value, float) and value.is_integer():
    return str(int(value))  # fmt keeps 1.0 as a rate would read ("1.0000")
  return fmt(value)


def _members(report: ReportData) -> List[str]:
  return sorted(report.member_slices.get(OVERALL, {}))


# A terminal has room for the best member or for MRR and AUC per slice (both are in the
# overall table above it); the member answers more.
_NOT_IN_COMPACT = ('mrr', 'auc')


def _slice_columns(compact: bool) -> List[Tuple[str, str]]:
  return [c for c in SLICE_COLUMNS if not compact or c[0] not in _NOT_IN_COMPACT]


def slice_header(report: ReportData, compact: bool = False) -> List[str]:
  """The slice table's columns: the candidate against production, then each member's own
  NDCG@10 on the same slice (is the fusion behind one of its members there?); `compact` (a
  terminal): the best member only."""
  members = _members(report)
  extra = (['best member'] if compact and members else
           [f'{member} NDCG@10' for member in members])
  return ['slice'] + [label for _, label in _slice_columns(compact)] + extra


def _best_member(scores: Mapping[str, float]) -> str:
  if not scores:
    return '-'
  name = max(sorted(scores), key=lambda n: scores[n])
  return f'{fmt(scores[name])} {name}'


def slice_rows(report: ReportData, compact: bool = False) -> List[List[str]]:
  members = _members(report)
  rows = []
  for name in slice_order(report.slices):
    scores = report.member_slices.get(name, {})
    extra = (([_best_member(scores)] if members else []) if compact
             else [fmt(scores.get(member)) for member in members])
    rows.append([name] + [_slice_cell(report, name, key) for key, _ in _slice_columns(compact)]
                + extra)
  return rows


HISTORY_COLUMNS = ('version', 'pushed (UTC)', 'run', 'NDCG@10 eval', 'note')


def history_rows(report: ReportData) -> List[List[str]]:
  """Every registry version, then this run's candidate when it was not pushed: is the model
  getting better over time, and where does this one stand?"""
  rows = []
  for version in report.history:
    note = (f'rollback to {version["rollback_of"]}' if version.get('rollback_of') is not None
            else 'this run' if version.get('run_id') == report.run.run_id else '')
    rows.append([str(version['version']), (version.get('pushed_at') or '')[:16].replace('T', ' '),
                 version.get('run_id') or '-', fmt(version.get('ndcg@10')), note])
  candidate = candidate_in_history(report)
  if rows and candidate and candidate[2] is None:
    rows.append(['-', '-', report.run.run_id or '-', fmt(candidate[1]),
                 'this run (not pushed)'])
  return rows


def candidate_in_history(report: ReportData) -> Optional[Tuple[int, float, Optional[int]]]:
  """Where this run's model stands among the registry's versions: (position on the version
  axis, its NDCG@10, the version it was pushed as or None). Not pushed, it sits one after the
  newest version. None without a history or an NDCG@10."""
  candidate = report.slices.get(OVERALL, {}).get('ndcg@10')
  if not report.history or candidate is None:
    return None
  for version in report.history:
    if version.get('run_id') == report.run.run_id:
      return version['version'], candidate, version['version']
  return max(v['version'] for v in report.history) + 1, candidate, None


TRAINING_COLUMNS = ('ranker', 'started from', 'epochs', 'train loss first -> last',
                    'best validation loss (epoch)', 'its validation AUC')


def _started_from(warm: Mapping) -> str:
  if not warm:
    return '-'
  if warm.get('warm_started'):
    return 'production weights' + (f' ({warm["reason"]})' if warm.get('reason') else '')
  return 'scratch' + (f': {warm["reason"]}' if warm.get('reason') else '')


def training_rows(report: ReportData) -> List[List[str]]:
  """Per ranker: warm start or scratch (and why), and its curves in two numbers each: train
  loss falling while validation loss rises is overfitting; EarlyStopping keeps the best epoch."""
  rows = []
  for ranker, trained in sorted(report.training.items()):
    epochs = trained.get('epochs') or []
    losses = [e['loss'] for e in epochs if 'loss' in e]
    validated = [e for e in epochs if 'val_loss' in e]
    best = min(validated, key=lambda e: e['val_loss']) if validated else None
    rows.append([
        ranker, _started_from(trained.get('warm_start') or {}), str(len(epochs)) if epochs else '-',
        f'{fmt(losses[0])} -> {fmt(losses[-1])}' if losses else '-',
        f'{fmt(best["val_loss"])} ({best["epoch"]})' if best else '-',
        fmt(best.get('val_auc')) if best else '-'])
  return rows


# What each number means, for a reviewer who does not read ranking papers.
METRIC_GUIDE = (
    ('NDCG@k', 'how close the top k is to the best order of the logged gains (purchase 3, cart '
     '2, click 1), 1 = ideal; averaged over requests. NDCG@10 is what the gate checks.'),
    ('change [interval]', 'candidate minus production on the same eval requests; the brackets '
     "are a 95% interval over requests (TFMA's jackknife). An interval that contains 0 is no "
     'evidence of a difference, however large the point change.'),
    ('MRR', 'mean of 1 / rank of the first engaged item: how far down the first click is.'),
    ('AUC', 'the chance an engaged item scores above an unengaged one, across requests; 0.5 is '
     'a coin flip. Engagement only (gain > 0), so it ignores purchase vs click.'),
    ('calibration', 'mean predicted engagement probability over mean observed engagement; 1 '
     'means the probability output can be read as a rate.'),
    ('slices', 'the same metrics on one kind of request; read the request count first: a '
     'change on a few dozen requests is mostly noise.'),
    ('members', "each ranker's own NDCG@10 on the slice: the fused model should not trail its "
     'best member; where it does, that member carries the slice.'),
    ('drift', 'how far a feature\'s distribution in this run\'s train data is from the data the '
     'production model was trained on: L-infinity (largest change in any value\'s share) for '
     'categories, Jensen-Shannon divergence (0 same, 1 disjoint) for numbers; beyond the '
     'threshold, check what changed in the shop before trusting the comparison.'),
)


def model_rows(fusion: Mapping, eval_ndcg10: Mapping[str, Optional[float]]) -> List[List[str]]:
  """One row per base ranker, then the fused model: fusion weight, validation metrics from the
  FusionReport, and NDCG@10 on eval (`eval_ndcg10` by model name, 'fused' for the fusion)."""
  rows = []
  for name in sorted(fusion.get('metrics', {}), key=lambda n: (n == 'fused', n)):
    metrics = fusion['metrics'][name]
    weight = fmt(fusion.get('weights', {}).get(name)) if name != 'fused' else ''
    rows.append([name, weight, fmt(metrics.get('ndcg@10')), fmt(metrics.get('auc')),
                 fmt(eval_ndcg10.get(name))])
  return rows


def fusion_notes(fusion: Mapping) -> List[str]:
  """What the fusion chose and why, which rankers it left out, and how much they differ."""
  notes = []
  summary = fusion.get('selection', {}).get('summary')
  if summary:
    notes.append(summary)
  for name, reason in sorted(fusion.get('dropped', {}).items()):
    notes.append(f'{name} left out: {reason}')
  notes.extend(member_notes(fusion.get('members', {})))
  complementarity = fusion.get('complementarity', {})
  if complementarity.get('score_correlation'):
    notes.append('score correlation (validation): ' + ', '.join(
        f'{pair} {value:.2f}' for pair, value in complementarity['score_correlation'].items()))
  if complementarity.get('marginal_lift_ndcg@10'):
    notes.append('marginal lift, NDCG@10 of the best weighted mix with vs without: ' + ', '.join(
        f'{name} {value:+.4f}'
        for name, value in complementarity['marginal_lift_ndcg@10'].items()))
  return notes


def member_notes(members: Mapping[str, Mapping]) -> List[str]:
  """Per ranker: the inputs this log gave it nothing in (the same in every train example), and
  for a forest the features its trees split on first."""
  notes = []
  # Rankers share most inputs: one line per distinct set of constant inputs.
  by_constant: Dict[Tuple[str, ...], List[str]] = {}
  for name, info in sorted(members.items()):
    if info.get('constant_inputs'):
      by_constant.setdefault(tuple(info['constant_inputs']), []).append(
          f'{name} {len(info["constant_inputs"])} of {info.get("inputs", "?")}')
  for constant, rankers in by_constant.items():
    notes.append(f'the same in every train example (nothing to learn from): '
                 f'{", ".join(constant)} (inputs of {", ".join(rankers)})')
  for name, info in sorted(members.items()):
    splits = info.get('root_splits')
    if splits:
      top = sorted(splits.items(), key=lambda item: -item[1])[:4]
      notes.append(f'{name}: {info.get("trees", "?")} trees, first splits on ' + ', '.join(
          f'{feature} {share:.0%}' for feature, share in top))
  return notes


def fusion_rows(report: ReportData) -> List[List[str]]:
  eval_ndcg10 = dict(report.per_model_ndcg10)
  eval_ndcg10['fused'] = report.slices.get(OVERALL, {}).get('ndcg@10')
  return model_rows(report.run.fusion, eval_ndcg10)


def component_rows(report: ReportData) -> List[List[str]]:
  return [[c.name, c.state, f'{c.seconds:.1f}' if c.seconds is not None else '-']
          for c in report.run.components]


def data_rows(report: ReportData) -> List[List[str]]:
  data = report.run.join_report
  if not data:
    return []
  rows = [['spans', ', '.join(map(str, data.get('spans', [])))],
          ['requests', str(data.get('requests', '-'))]]
  rows += [[f'examples ({split})', str(data.get(f'examples_{split}', '-'))] for split in SPLITS]
  rows += [['requests without impressions', str(data.get('requests_without_impressions', 0))],
           ['sampled negatives', str(data.get('sampled_negatives', 0))],
           ['events skipped (unknown item)', str(data.get('skipped_unknown_item_events', 0))]]
  return rows


def data_line(report: ReportData) -> Optional[str]:
  data = report.run.join_report
  if not data:
    return None
  return (f'data: spans {data.get("spans")}, {data.get("requests")} requests, examples '
          + ', '.join(f'{split} {data.get(f"examples_{split}")}' for split in SPLITS))


def data_notes(report: ReportData) -> List[str]:
  """What the join left out or made up, which the example counts alone do not show."""
  data = report.run.join_report
  notes = []
  if engagement_undefined(report):
    notes.append('every eval example has gain > 0 (graded judgments, no unjudged candidates): '
                 'AUC, MRR and calibration of engagement are not defined (n/a); judge by NDCG')
  if data.get('requests_without_impressions'):
    notes.append(f'{data["requests_without_impressions"]} requests logged no impressions: '
                 f'{data.get("sampled_negatives")} catalog negatives sampled')
  if data.get('skipped_unknown_item_events'):
    notes.append(f'{data["skipped_unknown_item_events"]} events skipped: item not in '
                 'the catalog (data.on_unknown_item=skip)')
  if data.get('requests_outside_splits'):
    notes.append(f'{data["requests_outside_splits"]} requests in spans outside '
                 'data.split.spans were left out')
  return notes


DRIFT_COLUMNS = ('feature', 'this run', 'production', 'distance', 'threshold', '')


def drift_title(report: ReportData) -> str:
  return (f'Data: this run vs what version {report.drift["version"]} was trained on'
          if report.drift else '')


def drift_rows(report: ReportData) -> List[List[str]]:
  """One row per compared feature, the largest distance first."""
  return [[row['feature'], row['this_run'], row['production'],
           f'{row["value"]:.3f} {row["measure"]}', f'{row["threshold"]:g}',
           'drifted' if row['drifted'] else '']
          for row in report.drift.get('rows', [])]


def drift_line(report: ReportData) -> Optional[str]:
  """The comparison in one line, for the terminal; None without a production model."""
  if not report.drift:
    return None
  version = report.drift['version']
  if 'note' in report.drift:
    return f'data vs version {version}: not compared ({report.drift["note"]})'
  rows = report.drift.get('rows', [])
  drifted = [r for r in rows if r['drifted']]
  if not drifted:
    return (f'data vs version {version}: no drift beyond the thresholds in {len(rows)} '
            'features')
  listed = ', '.join(f'{r["feature"]} {r["value"]:.2f}' for r in drifted)
  return f'data vs version {version}: {len(drifted)} of {len(rows)} features drifted: {listed}'
