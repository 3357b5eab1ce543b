"""Renders a ReportData as one self-contained HTML page, a terminal summary, or markdown.

The HTML has its charts inlined as PNG data URIs and its styles inline: it opens offline,
from an email attachment or a KFP artifact, and prints.
"""
import base64
import datetime
import io
from typing import Dict, List, Optional

import jinja2
import matplotlib

matplotlib.use('Agg')  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from recfusion.report.collect import OVERALL, ReportData  # noqa: E402
from recfusion.report.tables import MODEL_COLUMNS, model_rows  # noqa: E402
from recfusion.report.tables import fmt as _fmt  # noqa: E402

SLICE_COLUMNS = (('ndcg@10', 'NDCG@10'), ('mrr', 'MRR'), ('auc', 'AUC'),
                 ('example_count', 'examples'))


def verdict_line(report: ReportData) -> str:
  if report.blessed is None:
    return 'no verdict (no thresholds configured)'
  word = 'BLESSED' if report.blessed else 'NOT BLESSED'
  pushed = report.pushed or {}
  if pushed.get('pushed'):
    return f'{word}: pushed as registry version {pushed.get("version")}'
  return f'{word}: not pushed' if pushed else word


def threshold_rows(report: ReportData) -> List[List[str]]:
  rows = []
  for t in report.thresholds:
    status = 'pass' if t.passed else ('fail' if t.passed is False else 'not checked')
    bound = f'>= {t.bound:g}' if t.kind == 'value' else f'>= {t.bound:+g}'
    rows.append([t.metric, t.kind, _fmt(t.value), bound, status])
  return rows


def headline_rows(report: ReportData) -> List[List[str]]:
  candidate = report.slices.get(OVERALL, {})
  baseline = report.baseline_slices.get(OVERALL, {})
  rows = []
  for key in ('ndcg@5', 'ndcg@10', 'ndcg@20', 'mrr', 'auc', 'calibration', 'example_count'):
    value, before = candidate.get(key), baseline.get(key)
    diff = value - before if value is not None and before is not None else None
    rows.append([key, _fmt(value), _fmt(before), '-' if diff is None else f'{diff:+.4f}'])
  return rows


def slice_rows(report: ReportData) -> List[List[str]]:
  ordered = sorted(report.slices, key=lambda name: (name != OVERALL, name))
  return [[name] + [_fmt(report.slices[name].get(key)) for key, _ in SLICE_COLUMNS]
          for name in ordered]


def fusion_rows(report: ReportData) -> List[List[str]]:
  eval_ndcg10 = dict(report.per_model_ndcg10)
  eval_ndcg10['fused'] = report.slices.get(OVERALL, {}).get('ndcg@10')
  return model_rows(report.fusion, eval_ndcg10)


def data_rows(report: ReportData) -> List[List[str]]:
  data = report.data
  if not data:
    return []
  rows = [['spans', ', '.join(map(str, data.get('spans', [])))],
          ['requests', str(data.get('requests', '-'))]]
  rows += [[f'examples ({split})', str(data.get(f'examples_{split}', '-'))]
           for split in ('train', 'validation', 'eval')]
  rows += [['requests without impressions', str(data.get('requests_without_impressions', 0))],
           ['sampled negatives', str(data.get('sampled_negatives', 0))],
           ['events skipped (unknown item)', str(data.get('skipped_unknown_item_events', 0))]]
  return rows


# ---- charts -------------------------------------------------------------------------------

def _png(figure) -> str:
  buffer = io.BytesIO()
  figure.savefig(buffer, format='png', dpi=110, bbox_inches='tight')
  plt.close(figure)
  return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode()


def chart_slices(report: ReportData) -> Optional[str]:
  names = sorted(report.slices, key=lambda name: (name != OVERALL, name))
  if not names:
    return None
  figure, axis = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
  positions = range(len(names))
  values = [report.slices[n].get('ndcg@10', 0.0) for n in names]
  if report.baseline_slices:
    before = [report.baseline_slices.get(n, {}).get('ndcg@10', 0.0) for n in names]
    axis.barh([p + 0.2 for p in positions], before, height=0.4, label='baseline',
              color='#b0b7c3')
    axis.barh([p - 0.2 for p in positions], values, height=0.4, label='candidate',
              color='#2b6cb0')
    axis.legend(loc='lower right')
  else:
    axis.barh(list(positions), values, height=0.6, color='#2b6cb0')
  axis.set_yticks(list(positions), names)
  axis.invert_yaxis()
  axis.set_xlabel('NDCG@10 (eval)')
  axis.set_xlim(0, 1)
  return _png(figure)


def chart_ndcg_curve(report: ReportData) -> Optional[str]:
  if not report.ndcg_curve:
    return None
  figure, axis = plt.subplots(figsize=(7, 3.2))
  ks = list(report.ndcg_curve)
  axis.plot(ks, list(report.ndcg_curve.values()), marker='o', label='candidate',
            color='#2b6cb0')
  if report.baseline_ndcg_curve:
    axis.plot(list(report.baseline_ndcg_curve), list(report.baseline_ndcg_curve.values()),
              marker='.', linestyle='--', label='baseline', color='#718096')
    axis.legend()
  axis.set_xlabel('k')
  axis.set_ylabel('NDCG@k')
  axis.set_xticks(ks)
  axis.grid(alpha=0.3)
  return _png(figure)


def chart_calibration(report: ReportData) -> Optional[str]:
  if not report.calibration:
    return None
  figure, axis = plt.subplots(figsize=(4.5, 4.5))
  predicted = [b[0] for b in report.calibration]
  observed = [b[1] for b in report.calibration]
  sizes = [max(10.0, 200.0 * b[2] / max(c[2] for c in report.calibration))
           for b in report.calibration]
  top = max(predicted + observed + [0.05]) * 1.1
  axis.plot([0, top], [0, top], linestyle='--', color='#a0aec0', label='perfect')
  axis.scatter(predicted, observed, s=sizes, color='#2b6cb0', label='buckets')
  axis.set_xlim(0, top)
  axis.set_ylim(0, top)
  axis.set_xlabel('mean predicted engagement probability')
  axis.set_ylabel('observed engagement rate')
  axis.legend(loc='upper left')
  return _png(figure)


def chart_fusion(report: ReportData) -> Optional[str]:
  metrics = report.fusion.get('metrics')
  if not metrics:
    return None
  names = sorted(metrics, key=lambda n: (n == 'fused', n))
  figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
  weights = report.fusion.get('weights', {})
  left.bar([n for n in names if n != 'fused'], [weights.get(n, 0) for n in names
                                                 if n != 'fused'], color='#38a169')
  left.set_title('fusion weights')
  left.set_ylim(0, 1)
  right.bar(names, [metrics[n].get('ndcg@10', 0) for n in names],
            color=['#2b6cb0' if n == 'fused' else '#a0aec0' for n in names])
  right.set_title('NDCG@10 on validation')
  right.set_ylim(0, 1)
  return _png(figure)


# ---- formats ------------------------------------------------------------------------------

_TEMPLATE = jinja2.Environment(
    loader=jinja2.PackageLoader('recfusion.report', 'templates'),
    autoescape=jinja2.select_autoescape(['html', 'j2']))


def html(report: ReportData) -> str:
  charts = {'slices': chart_slices(report), 'ndcg_curve': chart_ndcg_curve(report),
            'calibration': chart_calibration(report), 'fusion': chart_fusion(report)}
  return _TEMPLATE.get_template('report.html.j2').render(
      report=report, verdict=verdict_line(report), thresholds=threshold_rows(report),
      headline=headline_rows(report), slices=slice_rows(report),
      slice_columns=[label for _, label in SLICE_COLUMNS], fusion=fusion_rows(report),
      data=data_rows(report), charts=charts,
      generated=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))


def _markdown_table(header: List[str], rows: List[List[str]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines)


def markdown(report: ReportData) -> str:
  parts = [f'## recfusion run {report.run_id or ""}'.rstrip(), f'**{verdict_line(report)}**']
  if report.thresholds:
    parts.append(_markdown_table(['metric', 'threshold', 'value', 'bound', 'result'],
                                 threshold_rows(report)))
  parts.append('### Candidate vs baseline' + (
      f' (registry version {report.baseline_version})' if report.baseline_version else
      ' (no baseline)'))
  parts.append(_markdown_table(['metric', 'candidate', 'baseline', 'change'],
                               headline_rows(report)))
  parts.append('### By slice')
  parts.append(_markdown_table(['slice'] + [label for _, label in SLICE_COLUMNS],
                               slice_rows(report)))
  if report.fusion:
    parts.append(f'### Fusion ({report.fusion.get("method")})')
    parts.append(_markdown_table(list(MODEL_COLUMNS), fusion_rows(report)))
  if report.data:
    parts.append('### Data')
    parts.append(_markdown_table(['', ''], data_rows(report)))
  parts.append('### Anomalies')
  parts.append('\n'.join(f'- {a}' for a in report.anomalies) or 'none')
  return '\n\n'.join(parts) + '\n'


def _rich_table(title: str, header: List[str], rows: List[List[str]]) -> Table:
  table = Table(title=title, title_justify='left')
  for i, column in enumerate(header):
    table.add_column(column, justify='left' if i == 0 else 'right')
  for row in rows:
    table.add_row(*row)
  return table


def text(report: ReportData, console: Console) -> None:
  colour = 'green' if report.blessed else 'red'
  console.print(f'[bold {colour}]{verdict_line(report)}[/]' +
                (f'  (run {report.run_id})' if report.run_id else ''))
  if report.thresholds:
    console.print(_rich_table('gate', ['metric', 'threshold', 'value', 'bound', 'result'],
                              threshold_rows(report)))
  title = ('candidate vs baseline' + (f' (registry version {report.baseline_version})'
                                      if report.baseline_version else ' (no baseline)'))
  console.print(_rich_table(title, ['metric', 'candidate', 'baseline', 'change'],
                            headline_rows(report)))
  console.print(_rich_table('by slice (eval)', ['slice'] + [l for _, l in SLICE_COLUMNS],
                            slice_rows(report)))
  if report.fusion:
    console.print(_rich_table(f'fusion ({report.fusion.get("method")})',
                              ['model', 'weight', 'NDCG@10 val', 'AUC val', 'NDCG@10 eval'],
                              fusion_rows(report)))
  if report.anomalies:
    console.print('anomalies: ' + '; '.join(report.anomalies))


def render(report: ReportData, fmt: str) -> str:
  if fmt == 'html':
    return html(report)
  if fmt == 'markdown':
    return markdown(report)
  console = Console(record=True, width=100, file=io.StringIO())
  text(report, console)
  return console.export_text()
